"""IGD's sampling overhead and checkpoint-selection cost, measured side by side in one process.

Prints `name: value` lines; the last one is `guided/vanilla: X.XXx`:
  vanilla_seconds_per_image     DDIM 50 steps, CFG 4, the images of IPC rounds (one image of every class per batch)
  guided_seconds_per_image      the same seeds with IGD (G_I over the retained checkpoints + G_D), window t in [30, 45]
  selection/epoch               Alg. 2 on the whole trajectory (every checkpoint's class-averaged gradients) / one
                                surrogate training epoch
  guided/vanilla, G_D only      the same with the deviation term alone (no surrogate), and G_I's share of the guided time
  guided/vanilla, jacobian='skip'  the same with d z0|t / d z_t taken as 1/sqrt(abar) (no denoiser backward)
  guided/vanilla                guided / vanilla time for the same images (paper: 5.5x, 8.2 s vs 1.5 s on an RTX 4090)
Uses the embedded tiny DiT when cached (else a 40-step smoke one) and a ConvNet-3 surrogate on digits.
Run: .venv/bin/python benchmarks/bench_igd.py [--smoke] [--ipc 2]

`--shape dit-xl-2`: a cost model at the paper's shape instead (random weights, nothing downloaded): DiT-XL/2's
configuration (28 layers, hidden 1152, 16 heads, patch 2, 4x32x32 latents, 1000 classes), sd-vae-ft-mse's AutoencoderKL
decoding to 256 px and a ConvNet-6 surrogate at 256 px (the authors' size). It times every part of one vanilla and one
guided step for one image (CFG: the doubled batch), each the best of --reps after a warm-up, checks that the parts add
up to a measured guided step, times the influence term again with the surrogate in bfloat16 (printing how far its
image gradient is from float32's), and predicts guided/vanilla for 50 DDIM steps with the window [30, 45] (16 guided steps)
and --checkpoints retained checkpoints (the paper keeps about 4), exact and Jacobian-free. On a GPU set DD_NB_DEVICE=cuda.
Run: .venv/bin/python benchmarks/bench_igd.py --shape dit-xl-2 [--reps 2] [--checkpoints 4] [--dtype bfloat16] [--write]
"""
import argparse, os, tempfile, time
from dataclasses import replace
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import torch.nn.functional as F
from dd_nb.checkpoints import select_checkpoints, train_surrogate_trajectory
from dd_nb.data import load_dataset
from dd_nb.diffusion import get_backend
from dd_nb.igd import generate_set, igd_terms, load_surrogate


def tiny_backend(smoke):
    if not smoke:
        try: return get_backend("tiny-dit", train=False, progress=False), "embedded (4000 steps)"
        except FileNotFoundError: pass
    return get_backend("tiny-dit", steps=40, batch=16, progress=False), "smoke (40 steps)"


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--smoke", action="store_true"); ap.add_argument("--ipc", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=0, help="surrogate epochs (default 5, as the embedded profile; --smoke 2)")
    ap.add_argument("--shape", choices=["tiny", "dit-xl-2"], default="tiny", help="tiny: the embedded tiny DiT; dit-xl-2: the cost model")
    ap.add_argument("--reps", type=int, default=2, help="--shape dit-xl-2: timed repetitions of each part (best kept)")
    ap.add_argument("--checkpoints", type=int, default=4, help="--shape dit-xl-2: retained surrogate checkpoints")
    ap.add_argument("--dtype", default="float32", help="--shape dit-xl-2: the denoiser's and the VAE's dtype (float32, bfloat16, float16); "
                    "the surrogate stays in float32")
    ap.add_argument("--write", action="store_true", help="--shape dit-xl-2: also write results/bench_igd_dit-xl-2_<dtype>.md")
    args = ap.parse_args()
    if args.shape == "dit-xl-2": return xl_cost_model(args.reps, args.checkpoints, args.dtype, args.write)
    bk, which = tiny_backend(args.smoke)
    train = load_dataset("digits")
    epochs = args.epochs or (2 if args.smoke else 5)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        path = train_surrogate_trajectory(train, "convnet3", epochs, 1e-2, 0, 64, out=f"{d}/traj", progress=False)
        per_epoch = (time.perf_counter() - t0) / epochs
        t0 = time.perf_counter(); sel = select_checkpoints(path, train, 0.7, progress=False); selection = time.perf_counter() - t0
        sur = load_surrogate(path, train, progress=False)
    kw = dict(steps=50, cfg=4.0, progress=False)
    n = args.ipc * train.num_classes
    generate_set(train, 1, 99, bk, (), **kw)  # warm-up
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, (), **kw); vanilla = time.perf_counter() - t0
    terms = igd_terms(bk, sur)
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, terms, window=(30, 45), **kw); guided = time.perf_counter() - t0
    terms = igd_terms(bk, sur, jacobian="skip")
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, terms, window=(30, 45), **kw); skip = time.perf_counter() - t0
    terms = igd_terms(bk, sur, influence=False)   # G_D alone: what the guided step costs without the surrogate
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, terms, window=(30, 45), **kw); dev_only = time.perf_counter() - t0
    print(f"# tiny DiT {which}; digits; ConvNet-3 surrogate {epochs} epochs, {len(sel['kept'])} checkpoints kept {sel['kept']}; "
          f"{n} images; torch threads={torch.get_num_threads()}")
    print(f"vanilla_seconds_per_image: {vanilla / n:.4f}s")
    print(f"guided_seconds_per_image: {guided / n:.4f}s")
    print(f"selection/epoch: {selection / per_epoch:.2f}x ({selection:.1f} s vs {per_epoch:.2f} s per epoch)")
    print(f"guided/vanilla, G_D only (no surrogate): {dev_only / vanilla:.2f}x")
    print(f"share of the guided time in G_I (the surrogate's per-sample double backward): {(guided - dev_only) / guided:.1%}")
    print(f"guided/vanilla, jacobian='skip': {skip / vanilla:.2f}x")
    print(f"guided/vanilla: {guided / vanilla:.2f}x")


# DiT-XL/2 (facebook/DiT-XL-2-256's transformer config) and sd-vae-ft-mse (the AutoencoderKL of Stable Diffusion v1)
DIT_XL_2 = dict(in_channels=4, out_channels=8, sample_size=32, patch_size=2, num_embeds_ada_norm=1000, num_layers=28,
                num_attention_heads=16, attention_head_dim=72, norm_type="ada_norm_zero", norm_elementwise_affine=False,
                activation_fn="gelu-approximate", attention_bias=True)
SD_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
              up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
              norm_num_groups=32, sample_size=256, scaling_factor=0.18215)
SKIP_STEP = "measured: one guided step, jacobian='skip'"
BF16_SURROGATE = "influence term, {} checkpoints, surrogate in bfloat16"
STEPS, GUIDED = 50, 16   # DDIM 50 steps; the window t in [30, 45] counted down: loop steps 4..19


def best_of(fn, reps, device):
    "Best wall time of fn() over `reps` runs after one warm-up (synchronised on CUDA)."
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn(); sync(); best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); fn(); sync(); best = min(best, time.perf_counter() - t)
    return best


def xl_parts(reps, n_ckpt, dtype=torch.float32):
    "Seconds of each part of one vanilla and one guided DDIM step for one image at DiT-XL/2's shape."
    from diffusers import AutoencoderKL, DiTTransformer2DModel
    from dd_nb.core import default_device
    from dd_nb.diffusion import DIT_SCHEDULER, DiTBackend, GuidanceContext, cfg_output, predict_clean, _guided_output, make_scheduler, SamplerConfig
    from dd_nb.igd import DeviationGuidance, InfluenceGuidance, Surrogate, influence_loss, surrogate_input
    from dd_nb.models import get_network
    dev = default_device(); torch.manual_seed(0)
    bk = DiTBackend(DiTTransformer2DModel(**DIT_XL_2).to(dev, dtype), DIT_SCHEDULER, AutoencoderKL(**SD_VAE).to(dev, dtype))
    for m in (bk.net, bk.vae): m.requires_grad_(False)
    net = get_network("convnet6", 3, 10, 256).to(dev).eval()
    pn = dict(net.named_parameters()); P = sum(v.numel() for v in pn.values())
    sur = Surrogate(net, [{k: v.detach() + 0.01 * e * torch.randn_like(v) for k, v in pn.items()} for e in range(n_ckpt)],
                    [dict(net.named_buffers()) for _ in range(n_ckpt)], [1e-2] * n_ckpt, torch.randn(n_ckpt, 10, P, device=dev),
                    torch.full((3,), 0.5, device=dev), torch.full((3,), 0.25, device=dev), list(range(n_ckpt)), 3, 256, 10)
    one = Surrogate(net, sur.params[:1], sur.buffers[:1], sur.lrs[:1], sur.class_grads[:1], sur.mean, sur.std, [0], 3, 256, 10)
    dev_term = DeviationGuidance(k=1.0, memory_size=64)
    dev_term.remember(torch.randn(64, *bk.latent_shape, device=dev), [3] * 64)
    z = torch.randn(1, *bk.latent_shape, device=dev, dtype=dtype); c = bk.cond([3]); t = 700
    ab = torch.tensor(0.3, device=dev)
    parts = {}
    with torch.no_grad():
        parts["denoiser forward, CFG (no grad)"] = best_of(lambda: cfg_output(bk, z, t, c, 4.0), reps, dev)
        parts["VAE decode (no grad)"] = best_of(lambda: bk.decode(z), reps, dev)

    def fwd():
        zr = z.detach().requires_grad_(True)
        out = cfg_output(bk, zr, t, c, 4.0)
        return zr, predict_clean(zr, out[:, :4], ab)
    parts["denoiser forward, CFG (graph kept)"] = best_of(fwd, reps, dev)
    zr, z0 = fwd(); v = torch.randn_like(z0)
    parts["denoiser backward (d z0 / d z_t)"] = best_of(lambda: torch.autograd.grad(z0, zr, v, retain_graph=True), reps, dev)

    def dec():
        zl = z0.detach().requires_grad_(True)
        return zl, bk.decode(zl, clamp=False)
    parts["VAE decode forward (graph kept)"] = best_of(dec, reps, dev)
    zl, x0 = dec(); gx = torch.randn_like(x0)
    parts["VAE decode backward"] = best_of(lambda: torch.autograd.grad(x0, zl, gx, retain_graph=True), reps, dev)
    xi = x0.detach().requires_grad_(True)
    parts["resize + normalise (256 px: no resize)"] = best_of(lambda: torch.autograd.grad(surrogate_input(sur, xi).sum(), xi), reps, dev)
    parts["influence term, one checkpoint"] = best_of(lambda: torch.autograd.grad(influence_loss(one, xi, [3]).sum(), xi), reps, dev)
    parts[f"influence term, {n_ckpt} checkpoints"] = best_of(lambda: torch.autograd.grad(influence_loss(sur, xi, [3]).sum(), xi), reps, dev)
    # the reduced-precision option: the surrogate (weights, G_c, its double backward) in bfloat16, the image gradient
    # returned in float32; its deviation from the float32 term on the same image is printed with the table
    sur16 = sur.to(dtype=torch.bfloat16)
    parts[BF16_SURROGATE.format(n_ckpt)] = best_of(lambda: torch.autograd.grad(influence_loss(sur16, xi, [3]).sum(), xi), reps, dev)
    g32, = torch.autograd.grad(influence_loss(sur, xi, [3]).sum(), xi)
    g16, = torch.autograd.grad(influence_loss(sur16, xi, [3]).float().sum(), xi)
    deviation = (float((g16 - g32).norm() / g32.norm()), float(F.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)))
    zd = z.detach().requires_grad_(True)
    ctx = lambda: GuidanceContext(z_t=zd, z0=zd, classes=torch.tensor([3]), t=t, step=10, t_index=39, alpha_bar=ab, backend=bk)
    parts["deviation term (64 latents)"] = best_of(lambda: torch.autograd.grad(dev_term.loss(ctx()).sum(), zd), reps, dev)
    # one whole guided step as the sampler runs it: the check that the parts add up
    sched = make_scheduler(bk, "ddim"); sched.set_timesteps(STEPS, device=dev)
    sc = SamplerConfig(terms=[InfluenceGuidance(surrogate=sur), dev_term], steps=STEPS, guided=set(range(4, 20)), cfg=4.0,
                       scheduler="ddim", cfg_channels=None, guidance_batch_size=1, progress=False)
    info = {"nonfinite": 0, "nonfinite_where": []}
    step_t = sched.timesteps[10]
    step = lambda sc: _guided_output(bk, sched, z, step_t, 10, c, torch.tensor([3]), torch.tensor([0]), sc, info)
    parts["measured: one guided step (sampler)"] = best_of(lambda: step(sc), reps, dev)
    skip_dev = DeviationGuidance(k=1.0, memory_size=64, jacobian="skip"); skip_dev.memory = dev_term.memory
    sc_skip = replace(sc, terms=[InfluenceGuidance(surrogate=sur, jacobian="skip"), skip_dev])
    parts[SKIP_STEP] = best_of(lambda: step(sc_skip), reps, dev)
    return parts, dev, deviation


def xl_cost_model(reps, n_ckpt, dtype="float32", write=False):
    "Print the per-part table and the predicted guided/vanilla ratios at DiT-XL/2's shape (`write`: also to results/)."
    from dd_nb.diffusion import as_dtype
    parts, dev, (dev_rel, dev_cos) = xl_parts(reps, n_ckpt, as_dtype(dtype))
    out = [f"# DiT-XL/2 shape (random weights), sd-vae-ft-mse decoder to 256 px, ConvNet-6 surrogate at 256 px; one image, "
           f"CFG 4; {dev}, denoiser and VAE in {dtype}, surrogate in float32, torch threads={torch.get_num_threads()}; best of {reps}"]
    w = max(map(len, parts))
    out += [f"  {k:<{w}}  {v:8.3f} s" for k, v in parts.items()]
    P, inf = parts, f"influence term, {n_ckpt} checkpoints"
    fwd, dec = P["denoiser forward, CFG (no grad)"], P["VAE decode (no grad)"]
    common = P["VAE decode forward (graph kept)"] + P["VAE decode backward"] + P["resize + normalise (256 px: no resize)"] \
        + P[inf] + P["deviation term (64 latents)"]
    exact = P["denoiser forward, CFG (graph kept)"] + P["denoiser backward (d z0 / d z_t)"] + common
    skip = fwd + common   # d z0 / d z_t taken as 1 / sqrt(alpha_bar): the forward keeps no graph, no denoiser backward
    vanilla = STEPS * fwd + dec
    swap = P[BF16_SURROGATE.format(n_ckpt)] - P[inf]   # the surrogate in bfloat16 instead
    out += [f"sum of the guided step's parts: exact {exact:.3f} s, measured {P['measured: one guided step (sampler)']:.3f} s; "
            f"jacobian='skip' {skip:.3f} s, measured {P[SKIP_STEP]:.3f} s",
            f"vanilla image: {STEPS} x {fwd:.3f} + decode {dec:.3f} = {vanilla:.1f} s",
            f"surrogate in bfloat16: the influence term {P[BF16_SURROGATE.format(n_ckpt)] / P[inf]:.2f}x its float32 time; its image "
            f"gradient deviates {dev_rel:.1%} (relative norm; cosine {dev_cos:.4f}) from float32's on the same image"]
    for name, g in (("exact gradient", exact), ("Jacobian-free (jacobian='skip')", skip),
                    ("exact gradient, surrogate in bfloat16", exact + swap)):
        total = (STEPS - GUIDED) * fwd + GUIDED * g + dec
        out.append(f"predicted guided/vanilla, {name}: {total / vanilla:.2f}x ({total:.1f} s per image; the paper: 5.5x)")
    print("\n".join(out))
    if write:   # a quiet machine's run, as ratios: the seconds are this machine's
        from dd_nb.core import atomic_write_text, project_root
        f = project_root()/"results"/f"bench_igd_dit-xl-2_{dtype}.md"
        atomic_write_text(f, "Written by `benchmarks/bench_igd.py --shape dit-xl-2 --dtype " + dtype + " --write` (one run; the ratios "
                          "are what carries over, the seconds are this machine's)\n\n```\n" + "\n".join(out) + "\n```\n")
        print(f"wrote {f}")


if __name__ == "__main__":
    main()

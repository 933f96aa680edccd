"""Memory of one guided image: IGD's guided step (G_I over E surrogate checkpoints + G_D) at the stand-in's and at DiT-XL/2's
shape, measured through the library's own sampler (`guided_sample` with `InfluenceGuidance` and `DeviationGuidance`).

Each (shape, batch) runs in a fresh process: 2 sampling steps, the first guided (window (1, 1)), random weights. The peak is
the process's resident-set high-water mark (CPU) or torch.cuda.max_memory_allocated (DD_NB_DEVICE=cuda), minus the same
figure after the models were built. Per guided image = (peak at batch 2 - peak at batch 1); the fixed part = peak at
batch 1 minus that. Prints `name: value` lines.
  --shape standin     dd_nb.standin's DiT (DiT-XL/2's interface at depth 2, width 64) and its tiny x8 VAE, ConvNet-6 at 256 px
  --shape dit-xl-2    DiT-XL/2's configuration (28 layers, hidden 1152, 16 heads, patch 2, 4x32x32 latents, 1000 classes),
                      the SD VAE (sd-vae-ft-mse's layout) decoding to 256 px, ConvNet-6 at 256 px (the authors' surrogate size)
Run: .venv/bin/python benchmarks/bench_guided_memory.py --shape standin [--checkpoints 4]
"""
import argparse, json, os, resource, subprocess, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHAPES = {
    "standin": None,   # dd_nb.standin's models
    "dit-xl-2": dict(dit=dict(in_channels=4, out_channels=8, sample_size=32, patch_size=2, num_embeds_ada_norm=1000, num_layers=28,
                              num_attention_heads=16, attention_head_dim=72, norm_type="ada_norm_zero",
                              norm_elementwise_affine=False, activation_fn="gelu-approximate", attention_bias=True),
                     vae=dict(in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                              up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                              layers_per_block=2, norm_num_groups=32, sample_size=256)),
}


def peak_bytes(device):
    import torch
    if device.type == "cuda": return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux: kilobytes


def one_run(shape: str, batch: int, checkpoints: int, surrogate_size: int) -> dict:
    "Build the models, note the memory, sample `batch` images with one guided step; the peak above the models."
    import torch
    from diffusers import AutoencoderKL, DiTTransformer2DModel
    from dd_nb.core import default_device
    from dd_nb.diffusion import DIT_SCHEDULER, DiTBackend, guided_sample, ready_backend
    from dd_nb.igd import DeviationGuidance, InfluenceGuidance, Surrogate
    from dd_nb.models import get_network
    dev = default_device()
    torch.manual_seed(0)
    if SHAPES[shape] is None:
        from dd_nb.standin import standin_dit, standin_vae
        tr, vae = standin_dit(), standin_vae()
    else:
        tr, vae = DiTTransformer2DModel(**SHAPES[shape]["dit"]).eval(), AutoencoderKL(**SHAPES[shape]["vae"]).eval()
    bk = ready_backend(DiTBackend(tr.to(dev), DIT_SCHEDULER, vae.to(dev)))
    net = get_network("convnet6", 3, 10, surrogate_size).eval().to(dev)
    params = {k: v.detach() for k, v in net.named_parameters()}
    P = sum(v.numel() for v in params.values())
    sur = Surrogate(net, [params] * checkpoints, [{}] * checkpoints, [0.01] * checkpoints, torch.randn(checkpoints, 10, P, device=dev),
                    torch.full((3,), 0.5, device=dev), torch.full((3,), 0.25, device=dev), list(range(checkpoints)), 3,
                    surrogate_size, 10)
    label_of = torch.arange(1000) % 10
    terms = [InfluenceGuidance(k=5.0, surrogate=sur, label_of=label_of), DeviationGuidance(k=120.0)]
    if dev.type == "cuda": torch.cuda.synchronize(dev); torch.cuda.reset_peak_memory_stats(dev)
    base = peak_bytes(dev)
    t0 = time.perf_counter()
    x = guided_sample(bk, list(range(batch)), terms, steps=2, window=(1, 1), cfg=4.0, seed=0, batch_size=batch)
    assert torch.isfinite(x).all()
    return dict(shape=shape, batch=batch, checkpoints=checkpoints, base=base, peak=peak_bytes(dev), seconds=time.perf_counter() - t0,
                dit_params=sum(p.numel() for p in tr.parameters()), vae_params=sum(p.numel() for p in vae.parameters()),
                surrogate_params=P, device=dev.type)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="standin")
    ap.add_argument("--checkpoints", type=int, default=4, help="retained surrogate checkpoints (the paper keeps about 4)")
    ap.add_argument("--surrogate-size", type=int, default=256)
    ap.add_argument("--write", action="store_true", help="also write results/bench_guided_memory_<shape>.md (atomically)")
    ap.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)   # internal: one run at this batch, JSON out
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_run(a.shape, a.one, a.checkpoints, a.surrogate_size))); return
    runs = {}
    for b in (1, 2):
        out = subprocess.run([sys.executable, __file__, "--shape", a.shape, "--checkpoints", str(a.checkpoints),
                              "--surrogate-size", str(a.surrogate_size), "--one", str(b)], capture_output=True, text=True)
        if out.returncode: sys.exit(out.stderr[-3000:])
        runs[b] = json.loads(out.stdout.strip().splitlines()[-1])
    mb = lambda v: v / 2**20
    r1, r2 = runs[1], runs[2]
    per_image = (r2["peak"] - r2["base"]) - (r1["peak"] - r1["base"])
    lines = [f"shape: {a.shape} (device {r1['device']}; DiT {r1['dit_params'] / 1e6:.1f}M, VAE {r1['vae_params'] / 1e6:.1f}M, "
             f"ConvNet-6 at {a.surrogate_size} px {r1['surrogate_params'] / 1e6:.2f}M parameters, {a.checkpoints} checkpoints)",
             f"peak_above_models_batch1_MB: {mb(r1['peak'] - r1['base']):.0f}",
             f"peak_above_models_batch2_MB: {mb(r2['peak'] - r2['base']):.0f}",
             f"per_guided_image_MB: {mb(per_image):.0f}",
             f"seconds_batch1: {r1['seconds']:.1f}",
             f"seconds_batch2: {r2['seconds']:.1f}"]
    print("\n".join(lines))
    if a.write:
        from pathlib import Path
        from dd_nb.core import atomic_write_text
        out = Path(__file__).resolve().parents[1]/"results"/f"bench_guided_memory_{a.shape}.md"
        atomic_write_text(out, "Written by benchmarks/bench_guided_memory.py (memory is not a wall-clock figure; the seconds are "
                               "one run's, on whatever else the machine ran)\n\n" + "\n".join(f"- {l}" for l in lines) + "\n")


if __name__ == "__main__":
    main()

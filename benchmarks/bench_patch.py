"""Patch selection's scoring, synthesis and reuse costs, measured side by side in one process.

Prints `name: value` lines; the last one is `first/reuse: X.XXx`:
  looped_scoring_seconds_per_image    class evidence with one image and one (eps, t) draw per denoiser forward (its
                                      conditional and null passes together, 2 rows), `samples` forwards per image
  batched_scoring_seconds_per_image   the same evidence with images x samples in one forward (`class_evidence`)
  batched/looped speedup              looped / batched time for the same images and draws (goal >= 5x); the two agree
                                      to `max_abs_difference`. On one CPU thread the tiny DiT is compute-bound from about
                                      16 rows per forward (measured while writing this: 2.6 ms per row in a 2-row forward,
                                      0.8 ms in a 16- or 128-row one), so batching can gain about 3.3x there; the 5x goal
                                      is for an accelerator, where a 2-row forward leaves it idle
  synthesis_seconds_per_image         a first `patch_select` (IPC 10, stitched): scoring every real image, DIFT, k-means,
                                      stitching and the teacher's soft labels, per distilled image (paper, Table 6:
                                      1.7 s per ImageNet-1K image on an RTX 3090)
  reuse_seconds                       `patch_select` again from the cached bank (other IPC and a class subset): no
                                      denoiser call
  first/reuse                         first run / reuse time
Uses the embedded tiny DiT (4000 steps) when cached (else a 40-step smoke one), digits at 16 px scored whole.
Run: .venv/bin/python benchmarks/bench_patch.py [--smoke] [--samples 8]
"""
import argparse, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from dd_nb.data import load_dataset
from dd_nb.diffusion import get_backend, make_scheduler
from dd_nb.patch import _image_seeds, class_evidence, fit_to_backend, noise_draws, patch_select


def tiny_backend(smoke):
    "The backend and the backend_kw that patch_select loads it with."
    if not smoke:
        try: return get_backend("tiny-dit", train=False, progress=False), {}, "embedded (4000 steps)"
        except FileNotFoundError: pass
    kw = dict(steps=40, batch=16, progress=False)
    return get_backend("tiny-dit", **kw), kw, "smoke (40 steps)"


@torch.no_grad()
def looped_evidence(bk, images, classes, samples, t_range=(0.1, 0.7), seed=0):
    "class_evidence one image and one draw at a time (the same draws: each image's generator gives all its draws)."
    sched = make_scheduler(bk, "ddpm")
    T, abar = sched.config.num_train_timesteps, sched.alphas_cumprod.double()
    out = []
    for x, c, key in zip(images, classes, _image_seeds(None, len(images), seed)):
        z0 = bk.encode(fit_to_backend(bk, x[None]).to(bk.device)).float()
        t, eps = noise_draws(key, samples, t_range, z0.shape[1:], T)
        diffs = []
        for j in range(samples):
            a = abar[t[j]].float()
            z_t = a.sqrt() * z0 + (1 - a).sqrt() * eps[j:j + 1].to(z0)
            tt = t[j:j + 1].to(z0.device)
            cc = torch.tensor([int(c)])
            pred = bk.eps(torch.cat([z_t, z_t]), torch.cat([tt, tt]), torch.cat([bk.cond(cc), bk.uncond(1)])).float()
            l_c, l_null = ((pred - torch.cat([eps[j:j + 1], eps[j:j + 1]]).to(pred)) ** 2).mean(1).chunk(2)
            diffs.append((l_null - l_c).mean())
        out.append(torch.stack(diffs).mean())
    return torch.stack(out).cpu()


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--samples", type=int, default=8, help="draws of (eps, t) per image (library default 8)")
    args = ap.parse_args()
    bk, backend_kw, which = tiny_backend(args.smoke)
    full = load_dataset("digits")
    # --smoke: 50 real images per class (a first run in seconds; IPC 10 stitched takes 40); else the whole training split
    train = full.subset(torch.cat([full.indices_of(c)[:50] for c in range(10)])) if args.smoke else full
    n_score = 16 if args.smoke else 64
    x, y = train.images[:n_score], train.labels[:n_score]
    class_evidence(bk, x[:2], y[:2], samples=2)   # warm-up
    t0 = time.perf_counter(); looped = looped_evidence(bk, x, y, args.samples); t_loop = time.perf_counter() - t0
    t0 = time.perf_counter(); batched = class_evidence(bk, x, y, samples=args.samples); t_batch = time.perf_counter() - t0
    kw = dict(backend_kw=backend_kw, samples=args.samples, progress=False)
    with tempfile.TemporaryDirectory() as d:
        bank = f"{d}/bank.safetensors"
        t0 = time.perf_counter(); first = patch_select(train, 10, cache=bank, **kw); t_first = time.perf_counter() - t0
        t0 = time.perf_counter(); patch_select(train, 1, classes=[3, 7], cache=bank, **kw); t_reuse = time.perf_counter() - t0
    print(f"# tiny DiT {which}; digits 16 px scored whole, {len(train)} real images; {args.samples} draws per image; "
          f"scoring timed on {n_score} images; torch threads={torch.get_num_threads()}")
    print(f"looped_scoring_seconds_per_image: {t_loop / n_score:.4f}s")
    print(f"batched_scoring_seconds_per_image: {t_batch / n_score:.4f}s")
    print(f"max_abs_difference: {(looped - batched).abs().max():.2e}")
    print(f"batched/looped speedup: {t_loop / t_batch:.2f}x")
    print(f"synthesis_seconds_per_image: {t_first / len(first):.4f}s ({t_first:.1f} s for {len(first)} images, IPC 10 {first.meta['layout']})")
    print(f"reuse_seconds: {t_reuse:.2f}s")
    print(f"first/reuse: {t_first / t_reuse:.2f}x")


if __name__ == "__main__":
    main()

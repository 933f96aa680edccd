"""Guided-sampler speed on the tiny DiT, measured side by side in one process.

Prints `name: value` lines:
  vanilla_seconds_per_image        DDIM 50 steps, CFG 2, batch of N (absolute, for reference)
  guidance_overhead_30_45_of_50    time with a dummy guidance term in IGD's window t in [30, 45] (loop steps 4..19, 16 of
                                   50 guided) / vanilla time
  guided_one_by_one_vs_microbatch  guided, one image at a time / guided in micro-batches of N (guidance_batch_size=N)
  one_by_one_vs_batched            vanilla, N calls of one image / one call of N images
The dummy term has a known cost: one ConvNet-3 forward + backward on the decoded clean prediction per guided step
(the shape of IGD's and LGD's terms, without their checkpoints). Uses the cached embedded tiny DiT when present,
else trains a smoke one (a few seconds).
Run: .venv/bin/python benchmarks/bench_sampler.py [--n 20] [--threads 1]
"""
import argparse, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import torch.nn.functional as F
from dd_nb.diffusion import GuidanceTerm, get_backend, guided_sample
from dd_nb.models import get_network


class DummyClassifierGuidance(GuidanceTerm):
    "Cross-entropy of a fixed random ConvNet-3 on x0_hat: one forward + backward per guided step."
    def __post_init__(self): torch.manual_seed(0); self.net = get_network("convnet3", 1, 10, 16).eval()
    def loss(self, ctx): return F.cross_entropy(self.net(ctx.x0), ctx.classes, reduction="none")


def tiny_backend():
    try: return get_backend("tiny-dit", steps=4000, batch=64, train=False), "embedded (4000 steps)"
    except FileNotFoundError: return get_backend("tiny-dit", steps=40, batch=16, progress=False), "smoke (40 steps)"


def timed(fn, repeats=2):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=20); ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    bk, which = tiny_backend()
    classes = torch.arange(args.n) % bk.num_classes
    kw = dict(steps=50, cfg=2.0, seed=0)
    vanilla = timed(lambda: guided_sample(bk, classes, batch_size=args.n, **kw))
    term = DummyClassifierGuidance(k=1.0)
    guided = timed(lambda: guided_sample(bk, classes, guidance=[term], window=(30, 45), batch_size=args.n,
                                         guidance_batch_size=args.n, **kw))
    guided_single = timed(lambda: guided_sample(bk, classes, guidance=[term], window=(30, 45), batch_size=1, **kw), repeats=1)
    one_by_one = timed(lambda: guided_sample(bk, classes, batch_size=1, **kw), repeats=1)
    print(f"# tiny DiT {which}, N={args.n} images, DDIM 50 steps, CFG 2, torch threads={torch.get_num_threads()}")
    print(f"vanilla_seconds_per_image: {vanilla / args.n:.4f}s")
    print(f"guidance_overhead_30_45_of_50: {guided / vanilla:.2f}x")
    print(f"guided_one_by_one_vs_microbatch: {guided_single / guided:.2f}x")
    print(f"one_by_one_vs_batched: {one_by_one / vanilla:.2f}x")


if __name__ == "__main__":
    main()

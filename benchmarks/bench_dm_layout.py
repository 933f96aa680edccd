"""Seconds per DM iteration with its networks channels-last (`dd_nb.matching.fast_layout`, the default on the CPU) and
without (NCHW), on the same data and seed, interleaved in one process; prints both and their ratio, and how far the two
sets drift apart (another summation order, so not bit for bit).

DM's cost is the forward pass of 256 real images per class through a fresh random ConvNet-3 every iteration: at IPC 1
on Fashion-MNIST (28 px, the authors' 32 px maps) that pass is nearly all of an iteration.
Run: .venv/bin/python benchmarks/bench_dm_layout.py [--dataset fashion-mnist] [--iterations 3] [--reps 2]
"""
import argparse, time

import dd_nb.matching as matching
from dd_nb.data import load_dataset


def seconds_per_iteration(ds, layout, iterations):
    "(seconds per iteration, the set) of DM at IPC 1 with `layout` as its network layout."
    keep = matching.fast_layout
    matching.fast_layout = layout
    try:
        t = time.perf_counter()
        s = matching.distribution_matching(ds, 1, seed=0, iterations=iterations, progress=False)
        return (time.perf_counter() - t) / iterations, s
    finally: matching.fast_layout = keep


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist", help="a load_dataset name (digits needs no install)")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    try: ds = load_dataset(a.dataset, "train")
    except (FileNotFoundError, ValueError) as e:
        print(f"{a.dataset}: {e}; falling back to digits")
        ds = load_dataset("digits", "train", size=16)
    layouts = {"nchw": lambda net: net, "channels_last": matching.fast_layout}
    best, sets = {}, {}
    for _ in range(a.reps):   # interleaved, so a busy moment hits both
        for name, layout in layouts.items():
            sec, sets[name] = seconds_per_iteration(ds, layout, a.iterations)
            best[name] = min(best.get(name, sec), sec)
    print(f"dataset: {ds.name}, IPC 1, {a.iterations} iterations, best of {a.reps}")
    for name, sec in best.items(): print(f"{name}: {sec:.2f} s per iteration")
    print(f"nchw / channels_last: {best['nchw'] / best['channels_last']:.2f}x")
    print(f"largest pixel difference of the two sets: {(sets['nchw'].images - sets['channels_last'].images).abs().max():.2e}")

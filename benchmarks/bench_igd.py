"""IGD's sampling overhead and checkpoint-selection cost, measured side by side in one process.

Prints `name: value` lines; the last one is `guided/vanilla: X.XXx`:
  vanilla_seconds_per_image     DDIM 50 steps, CFG 4, the images of IPC rounds (one image of every class per batch)
  guided_seconds_per_image      the same seeds with IGD (G_I over the retained checkpoints + G_D), window t in [30, 45]
  selection/epoch               Alg. 2 on the whole trajectory (every checkpoint's class-averaged gradients) / one
                                surrogate training epoch
  guided/vanilla                guided / vanilla time for the same images (paper: 5.5x, 8.2 s vs 1.5 s on an RTX 4090)
Uses the embedded tiny DiT when cached (else a 40-step smoke one) and a ConvNet-3 surrogate on digits.
Run: .venv/bin/python benchmarks/bench_igd.py [--smoke] [--ipc 2]
"""
import argparse, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
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
    args = ap.parse_args()
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
    print(f"# tiny DiT {which}; digits; ConvNet-3 surrogate {epochs} epochs, {len(sel['kept'])} checkpoints kept {sel['kept']}; "
          f"{n} images; torch threads={torch.get_num_threads()}")
    print(f"vanilla_seconds_per_image: {vanilla / n:.4f}s")
    print(f"guided_seconds_per_image: {guided / n:.4f}s")
    print(f"selection/epoch: {selection / per_epoch:.2f}x ({selection:.1f} s vs {per_epoch:.2f} s per epoch)")
    print(f"guided/vanilla: {guided / vanilla:.2f}x")


if __name__ == "__main__":
    main()

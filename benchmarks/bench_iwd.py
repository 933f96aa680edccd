"Time per outer iteration of IWD vs. its base method on the same data and seed (goal: at most 1.5x)."
import time

import torch

import dd_nb.all  # noqa: F401  registers every method
from dd_nb.data import load_dataset
from dd_nb.methods import distill


def per_iteration(method, ds, ipc, iterations, **kw):
    "Seconds per outer iteration (best of 3, after one warm-up run)."
    distill(method, ds, ipc, seed=0, iterations=1, progress=False, **kw)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        distill(method, ds, ipc, seed=0, iterations=iterations, progress=False, **kw)
        best = min(best, (time.perf_counter() - t) / iterations)
    return best


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = load_dataset("digits")
    for base, ipc, its in (("dc", 1, 3), ("dm", 10, 5)):
        tb = per_iteration(base, ds, ipc, its, batch_real=128)
        ti = per_iteration(f"iwd-{base}", ds, ipc, its, batch_real=128, tau=1.0)
        print(f"{base} per iteration (IPC {ipc}, 128 real/class): {1000 * tb:.0f} ms")
        print(f"iwd-{base} / {base}: {ti / tb:.2f}x")

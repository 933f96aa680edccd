"Time per outer iteration of IWD vs. its base method on the same data and seed (goal: at most 1.5x)."
import time

import torch

import dd_nb.all  # noqa: F401  registers every method
from dd_nb.data import load_dataset
from dd_nb.methods import distill


def per_iteration(method, ds, ipc, iterations, reps=2, **kw):
    "Seconds per outer iteration (best of `reps`, after one warm-up iteration)."
    distill(method, ds, ipc, seed=0, iterations=1, progress=False, **kw)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        distill(method, ds, ipc, seed=0, iterations=iterations, progress=False, **kw)
        best = min(best, (time.perf_counter() - t) / iterations)
    return best


# (base, IPC, iterations timed, base's own parameters, IWD's extra parameters)
# DC at IPC 10 is left out by default (about 65 s per iteration on 2 cores); `--ipc10` adds it.
CASES = [("dc", 1, 3, {}, {}), ("dc", 1, 3, {}, {"refresh": 5}), ("dm", 10, 5, {}, {}),
         ("idc", 1, 1, {"inner_loop": 5}, {}), ("idc", 1, 1, {"inner_loop": 5}, {"refresh": 5})]

if __name__ == "__main__":
    import sys
    if "--ipc10" in sys.argv: CASES.append(("dc", 10, 1, {}, {}))
    ds = load_dataset("digits")
    print(f"torch threads: {torch.get_num_threads()}; 128 real images per class per matching step")
    for base, ipc, its, kw, extra in CASES:
        tb = per_iteration(base, ds, ipc, its, batch_real=128, **kw)
        ti = per_iteration(f"iwd-{base}", ds, ipc, its, batch_real=128, tau=1.0, **kw, **extra)
        label = f"iwd-{base}{' refresh ' + str(extra['refresh']) if extra else ''}"
        print(f"IPC {ipc:2d}  {base:4s} {1000 * tb:8.0f} ms/iteration   {label} / {base}: {ti / tb:.2f}x")

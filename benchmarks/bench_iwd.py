"""Time per outer iteration of IWD vs. its base method on the same data and seed (issue 27: iwd-dc at most 2.5x).

Also one class's explicit influence scores three ways, in one process: GradientMatch.influence (per-sample dots at the
conv and linear layers, from the backward that gives g_real), its fallback for other networks (a double backward through
the real graph) and the forward-mode route both replaced (torch.func.jvp, a second real forward).
Run: .venv/bin/python benchmarks/bench_iwd.py [--ipc10]
"""
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

def influence_jvp(m):
    "The replaced route: v = dD/dg_real at uniform weights, then every instance's loss differentiated along v by jvp."
    import torch.nn.functional as F
    from torch.func import functional_call, jvp
    g_real = [g.detach().requires_grad_() for g in torch.autograd.grad(m.l_real.mean(), m.params, retain_graph=True)]
    d = m.distance([g.detach() for g in m.g_syn], g_real)
    v = [torch.zeros_like(g) if vi is None else vi for g, vi in zip(g_real, torch.autograd.grad(d, g_real, allow_unused=True))]
    name_of = {id(p): n for n, p in m.net.named_parameters()}
    names = [name_of[id(p)] for p in m.params]
    loss_fn = lambda p: F.cross_entropy(functional_call(m.net, p, (m.xr,)), m.yr, reduction="none")
    return jvp(loss_fn, ({n: p.detach() for n, p in zip(names, m.params)},), (dict(zip(names, v)),))[1].detach()


def influence_routes(ds, n_real=128, reps=5):
    "Seconds of one class's explicit influence by the layer route, the double backward and jvp; largest relative difference."
    from dd_nb.matching import GradientMatch, _new_net
    from dd_nb.train import normalize
    torch.manual_seed(0)
    net = _new_net("convnet3", ds, torch.device("cpu"))
    xr = normalize(ds.images[ds.indices_of(3)[:n_real]], ds.mean, ds.std)
    m = GradientMatch(net, list(net.parameters()), torch.randn(1, *xr.shape[1:], requires_grad=True), torch.tensor([3]),
                      xr, torch.full((len(xr),), 3))
    double = lambda: m._double_backward(m.direction(m._real_grads()[0]))
    ref = influence_jvp(m)
    rel = max(float((f() - ref).abs().max() / ref.abs().max()) for f in (m.influence, double))
    def best(fn):
        fn(); out = float("inf")
        for _ in range(reps):
            t = time.perf_counter(); fn(); out = min(out, time.perf_counter() - t)
        return out
    return best(m.influence), best(double), best(lambda: influence_jvp(m)), rel


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
    layer, dbl, fwd, rel = influence_routes(ds)
    print(f"explicit influence of one class (128 real images): layer dots {1000 * layer:.0f} ms, double backward "
          f"{1000 * dbl:.0f} ms, jvp {1000 * fwd:.0f} ms (jvp / layer dots: {fwd / layer:.2f}x; largest relative difference "
          f"to jvp {rel:.1e})")

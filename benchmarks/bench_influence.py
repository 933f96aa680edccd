"""Speed of per-sample gradients and direction scores against one batched backward, measured side by side.

Prints `name: X.XXx` lines (ratios against baselines timed in the same process). Goals (issue 3):
per-sample grads / batched backward <= 2.5x; direction scores / batched backward <= 2.0x; influence time about 2x
when N doubles; peak memory flat in N with chunking and projection.
"""
import functools, resource, subprocess, sys, time
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap
from dd_nb.data import load_dataset
from dd_nb.models import get_network
from dd_nb.influence import per_sample_grads, grad_dot, influence_on_test, select_params, flat_params

print = functools.partial(print, flush=True)   # lines appear as they are measured


def timeit(fn, reps=5):
    "Median wall time of `reps` calls after one warm-up call."
    fn(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def setup(n=256):
    torch.manual_seed(0)
    d = load_dataset("digits", split="train", size=16)
    net = get_network("convnet3", 1, 10, 16)
    return net, d.images[:n], d.labels[:n]


def peak_rss_mb(n, chunk):
    "Peak resident memory (MB) of a fresh process that computes projected per-sample grads of n examples in chunks."
    code = ("import resource, torch, torch.nn.functional as F; from dd_nb.data import load_dataset; "
            "from dd_nb.models import get_network; from dd_nb.influence import per_sample_grads; "
            f"torch.manual_seed(0); d = load_dataset('digits', size=16); x, y = d.images[:{n}], d.labels[:{n}]; "
            "net = get_network('convnet3', 1, 10, 16); "
            f"per_sample_grads(net, F.cross_entropy, x, y, chunk_size={chunk}, project_dim=128); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])


def main():
    net, x, y = setup(256)
    ps = list(net.parameters())
    params = select_params(net)

    def batched_backward():
        torch.autograd.grad(F.cross_entropy(net(x), y), ps)

    def loop():
        for i in range(len(x)): torch.autograd.grad(F.cross_entropy(net(x[i:i + 1]), y[i:i + 1]), ps)

    def vmap_grad():
        p = {k: v.detach() for k, v in params.items()}
        f = lambda p, xi, yi: F.cross_entropy(functional_call(net, p, (xi[None],)), yi[None])
        vmap(grad(f), in_dims=(None, 0, 0), chunk_size=64)(p, x, y)

    v = torch.randn(flat_params(params).numel())
    base = timeit(batched_backward)
    print(f"batched backward (256 digits, ConvNet-3): {base * 1e3:.1f} ms")
    print(f"per_sample_grads / batched backward: {timeit(lambda: per_sample_grads(net, F.cross_entropy, x, y)) / base:.2f}x")
    print(f"per_sample_grads chunk 64 / batched backward: {timeit(lambda: per_sample_grads(net, F.cross_entropy, x, y, chunk_size=64)) / base:.2f}x")
    print(f"loop of single backwards / batched backward: {timeit(loop, reps=2) / base:.2f}x")
    print(f"vmap(grad) / batched backward: {timeit(vmap_grad, reps=2) / base:.2f}x")
    print(f"grad_dot (direction scores) / batched backward: {timeit(lambda: grad_dot(net, F.cross_entropy, x, y, v)) / base:.2f}x")

    # influence on a test set (10 cg steps on the classifier layer, damped) as the training set doubles
    net2, x2, y2 = setup(1024)
    head = ["classifier.weight", "classifier.bias"]
    test = (x2[-64:], y2[-64:])
    t = {n: timeit(lambda n=n: influence_on_test(net2, F.cross_entropy, (x2[:n], y2[:n]), test, ihvp="cg", damping=0.1,
                                                  params=head, max_iter=10), reps=1) for n in (256, 512)}
    print(f"influence_on_test time N=512 / N=256: {t[512] / t[256]:.2f}x")

    # memory: projected per-sample grads in chunks of 32 should not grow with N (beyond the N x k result)
    m = {n: peak_rss_mb(n, 32) for n in (128, 512)}
    print(f"peak RSS of the whole process, chunk 32, k=128: N=128 {m[128]:.0f} MB, N=512 {m[512]:.0f} MB")
    print(f"peak memory N=512 / N=128 (chunked, projected): {m[512] / m[128]:.2f}x")
    P = flat_params(params).numel()
    print(f"for scale: an unchunked N=512 x P={P} gradient matrix alone is {512 * P * 4 / 2 ** 20:.0f} MB")


if __name__ == "__main__":
    main()

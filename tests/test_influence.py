"Integration checks of dd_nb.influence on tiny models (the notebook holds the full set of checks)."
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from dd_nb.influence import (per_sample_grads, grad_dot, influence_on_test, self_influence, inverse_hvp, loss_at,
                             distillation_influence, dc_match_loss, tracin, select_params, fit_newton)
from dd_nb.models import get_network


def tiny_data(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 16, 16, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def loop_grads(model, x, y):
    ps = list(model.parameters())
    return torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), ps)])
                        for i in range(len(x))])


def test_per_sample_grads_match_loop_and_direction_scores():
    torch.manual_seed(0)
    net = get_network("convnet3", 1, 10, 16)
    net = type(net)(1, 10, 16, depth=3, width=4).double()
    x, y = tiny_data()
    G = per_sample_grads(net, F.cross_entropy, x, y, chunk_size=4)
    torch.testing.assert_close(G, loop_grads(net, x, y), rtol=1e-9, atol=1e-10)
    v = torch.randn(G.shape[1], dtype=torch.float64)
    torch.testing.assert_close(grad_dot(net, F.cross_entropy, x, y, v), G @ v, rtol=1e-9, atol=1e-10)


def test_batchnorm_in_train_mode_is_refused():
    net = get_network("resnet18_bn", 1, 10, 16)
    x, y = tiny_data()
    with pytest.raises(ValueError, match="batch norm"):
        per_sample_grads(net, F.cross_entropy, x.float(), y)


def test_lissa_divergence_raises_and_unknown_solver_lists_valid():
    torch.manual_seed(0)
    X, t = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, dtype=torch.float64)
    f, th = loss_at(nn.Linear(4, 1, bias=False).double(), lambda o, y: ((o[:, 0] - y) ** 2).mean(), X, t)
    with pytest.raises(FloatingPointError, match="diverged"):
        inverse_hvp(f, th, torch.ones(4, dtype=torch.float64), "lissa", scale=0.05)
    with pytest.raises(ValueError, match="exact, cg, lissa"):
        inverse_hvp(f, th, torch.ones(4, dtype=torch.float64), "newton")


def test_influence_solvers_agree_on_logistic_regression():
    torch.manual_seed(0)
    x, y = torch.randn(80, 5, dtype=torch.float64), torch.randint(0, 3, (80,))
    m = fit_newton(nn.Linear(5, 3).double(), F.cross_entropy, x, y, l2=0.1)
    ex = influence_on_test(m, F.cross_entropy, (x, y), (x[:10], y[:10]), ihvp="exact", damping=0.1)
    cg = influence_on_test(m, F.cross_entropy, (x, y), (x[:10], y[:10]), ihvp="cg", damping=0.1)
    torch.testing.assert_close(cg, ex, rtol=1e-6, atol=1e-9)
    assert (self_influence(m, F.cross_entropy, (x, y), damping=0.1) > 0).all()


def test_tracin_single_checkpoint_is_plain_dot_and_distillation_influence_matches_fd():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 10)).double()
    x, y = tiny_data(8)
    G = loop_grads(net, x, y)
    torch.testing.assert_close(tracin([net.state_dict()], [1.0], net, F.cross_entropy, (x, y), (x[:2], y[:2]), per_test=True),
                               G[:2] @ G.T)
    conv = type(get_network("convnet3", 1, 10, 16))(1, 10, 16, depth=3, width=4).double()
    xs, ys = tiny_data(3, seed=1)
    fn = lambda w: dc_match_loss(conv, xs, ys, x, y, w)
    I = distillation_influence(fn, len(x), dtype=torch.float64)
    e = torch.zeros(len(x), dtype=torch.float64); e[2] = 1e-5
    fd = (fn(1 + e) - fn(1 - e)).item() / 2e-5
    assert abs(I[2].item() - fd) <= 1e-6 * max(1, abs(fd))


def test_unknown_param_names_are_listed():
    net = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="valid: \\['weight', 'bias'\\]"):
        select_params(net, ["nope"])


def test_large_models_get_no_dense_hessian(monkeypatch):
    "Above DENSE_MAX_PARAMS: ihvp='exact' refuses (naming the count), fit_newton reaches the optimum by Newton-CG alone."
    import dd_nb.influence as inf
    from dd_nb.core import default_device
    dev = torch.device(__import__("os").environ.get("DD_NB_DEVICE", str(default_device())))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 600, generator=g, dtype=torch.float64).to(dev), torch.randint(0, 10, (60,), generator=g).to(dev)
    net = nn.Linear(600, 10).double().to(dev)     # 6,010 parameters
    assert sum(p.numel() for p in net.parameters()) > inf.DENSE_MAX_PARAMS

    def no_dense(*a, **k):
        raise AssertionError("a dense Hessian was formed")
    monkeypatch.setattr(inf, "hessian", no_dense)
    m = fit_newton(net, F.cross_entropy, x, y, l2=0.01)
    f, th = loss_at(m, F.cross_entropy, x, y)
    assert inf.flat_grad(lambda t: f(t) + 0.005 * (t ** 2).sum(), th).norm() < 1e-10
    with pytest.raises(ValueError, match="6010\\^2 Hessian"):
        inverse_hvp(f, th, th, "exact", damping=0.01)
    s = self_influence(m, F.cross_entropy, (x[:3], y[:3]), ihvp="cg", damping=0.01)
    assert s.shape == (3,) and (s > 0).all()

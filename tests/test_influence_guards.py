"Guards of dd_nb.influence: cases where it once returned a wrong number without a word (the notebook holds the full checks)."
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from dd_nb.influence import (ConvergenceWarning, per_sample_grads, grad_dot, inverse_hvp, loss_at, select_params,
                             tracin_class, class_mean_grads)


def data(n=7, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g)


def loop_grads(model, x, y, params=None):
    ps = list(select_params(model, params).values())
    return torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), ps)])
                        for i in range(len(x))])


class Shared(nn.Module):
    "`twice` runs twice in one pass; `a` and `b` share one weight."
    def __init__(self):
        super().__init__()
        self.twice, self.a, self.b, self.out = nn.Linear(12, 12), nn.Linear(12, 5), nn.Linear(5, 5), nn.Linear(5, 4)
        self.b.weight = nn.Parameter(torch.randn(5, 5))
        self.a2 = nn.Linear(5, 5); self.a2.weight = self.b.weight
    def forward(self, x):
        h = torch.tanh(self.twice(torch.tanh(self.twice(x))))
        return self.out(torch.tanh(self.a2(torch.tanh(self.b(torch.tanh(self.a(h)))))))


def test_layer_run_twice_and_tied_weights_are_exact():
    torch.manual_seed(0)
    net, (x, y) = Shared().double(), data()
    torch.testing.assert_close(per_sample_grads(net, F.cross_entropy, x, y, chunk_size=3), loop_grads(net, x, y), rtol=1e-9, atol=1e-12)


def test_dropout_in_train_mode_is_refused_by_name():
    net, (x, y) = nn.Sequential(nn.Linear(12, 6), nn.Dropout(0.3), nn.Linear(6, 4)).double(), data()
    with pytest.raises(ValueError, match=r"module '1' \(Dropout\) is in train mode"):
        per_sample_grads(net, F.cross_entropy, x, y)
    with pytest.raises(ValueError, match="call model.eval"):
        grad_dot(net, F.cross_entropy, x, y, torch.zeros(sum(p.numel() for p in net.parameters()), dtype=torch.float64))
    torch.testing.assert_close(per_sample_grads(net.eval(), F.cross_entropy, x, y), loop_grads(net, x, y))


def test_loss_not_mean_reduced_is_refused():
    net, (x, y) = nn.Linear(12, 4).double(), data()
    with pytest.raises(ValueError, match="ratio 7;"):
        per_sample_grads(net, lambda o, t: F.cross_entropy(o, t, reduction="sum"), x, y)
    with pytest.raises(ValueError, match="reduction='none'"):
        per_sample_grads(net, nn.CrossEntropyLoss(reduction="none"), x, y)


def test_frozen_parameter_requested_explicitly_is_refused():
    net = nn.Linear(3, 2); net.weight.requires_grad_(False)
    with pytest.raises(ValueError, match=r"\['weight'\] are frozen"):
        select_params(net, ["weight", "bias"])
    assert list(select_params(net)) == ["bias"]


def test_unfinished_solvers_speak():
    torch.manual_seed(0)
    X, t = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, dtype=torch.float64)
    f, th = loss_at(nn.Linear(4, 1, bias=False).double(), lambda o, y: 0.5 * ((o[:, 0] - y) ** 2).mean(), X, t)
    b = torch.ones(4, dtype=torch.float64)
    with pytest.warns(ConvergenceWarning, match="relative residual"):
        inverse_hvp(f, th, b, "cg", damping=0.01, max_iter=1)
    top = float(torch.linalg.eigvalsh(X.T @ X / 30).max()) + 0.01
    with pytest.raises(FloatingPointError, match="diverged slowly"):
        inverse_hvp(f, th, b, "lissa", damping=0.01, scale=top / 2.04, depth=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inverse_hvp(f, th, b, "cg", damping=0.01)
        inverse_hvp(f, th, b, "lissa", damping=0.5, scale=2 * top, depth=2000)


def test_tracin_class_scores_follow_the_model_not_the_inputs():
    net = nn.Sequential(nn.Embedding(9, 3), nn.Flatten(), nn.Linear(6, 4)).double()
    x, y = torch.randint(0, 9, (6, 2), generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    s = tracin_class([net.state_dict()], [1.0], net, F.cross_entropy, (x, y), (x, y), 4)
    assert s.dtype == torch.float64
    torch.testing.assert_close(s, (loop_grads(net, x, y) * class_mean_grads(net, F.cross_entropy, x, y, 4)[y]).sum(1))

"IGD end to end through the `dd` command line: a killed run resumes to the same set; only the window's steps are guided."
import json, os, signal, subprocess, time

import pytest
import torch

from dd_nb.core import DistilledSet
from test_cli import dd

SMOKE = ["--param", 'backend_kw={"steps": 40, "batch": 16}', "--param", "steps=10", "--param", "window=[2, 7]",
         "--param", "surrogate_epochs=2", "--param", "surrogate_batch=64"]


def distill_cmd(dd_bin, out, *extra):
    return [dd_bin, "distill", "--method", "igd", "--dataset", "digits", "--ipc", "3", "--seed", "1", "--out", str(out), *SMOKE, *extra]


def test_igd_resumes_after_a_kill(dd_bin, tmp_path):
    # the reference and the resumed run in this process (no second start-up of torch and diffusers); the killed run in
    # its own, since only a process can be killed mid-write
    straight = dd(None, *distill_cmd(dd_bin, tmp_path / "straight")[1:])
    assert straight.returncode == 0, straight.stderr
    ref = DistilledSet.load(tmp_path / "straight")
    assert ref.images.shape == (30, 1, 16, 16) and torch.bincount(ref.labels).tolist() == [3] * 10
    assert ref.meta["method"] == "igd" and len(ref.meta["seeds"]) == 30 and ref.meta["run"]["checkpoints"][0] == 0

    state = tmp_path / "run.pt"
    cmd = distill_cmd(dd_bin, tmp_path / "resumed", "--param", f"resume={state}")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while not state.exists() and p.poll() is None: time.sleep(0.02)   # killed as soon as the first round is saved
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    done = torch.load(state, weights_only=True)["done"]
    assert 1 <= done < 3, f"the run was not cut short (done={done})"
    again = dd(None, *cmd[1:])
    assert again.returncode == 0, again.stderr
    assert torch.equal(DistilledSet.load(tmp_path / "resumed").images, ref.images)


def test_only_the_window_is_guided(monkeypatch):
    from dd_nb import igd as igd_mod
    from dd_nb.data import load_dataset
    seen = set()
    real_loss = igd_mod.InfluenceGuidance.loss
    def spy(self, ctx):
        seen.add(ctx.step); return real_loss(self, ctx)
    monkeypatch.setattr(igd_mod.InfluenceGuidance, "loss", spy)
    tr = load_dataset("digits")
    small = tr.subset(torch.cat([tr.indices_of(c)[:10] for c in range(10)]))
    igd_mod.igd(small, 1, backend_kw={"steps": 40, "batch": 16}, steps=10, window=(2, 7), deviation=False,
                surrogate_epochs=2, surrogate_batch=64, progress=False)
    assert seen == set(range(2, 8))   # t in [2, 7] counted down from 9: loop steps 9-7=2 .. 9-2=7


def test_igd_bad_input_fails_before_work(dd_bin, tmp_path):
    for param, msg in (("threshold=0", "threshold=0"), ("k=-1", "k=-1"), ("window=[40, 60]", "steps-1=49"),
                       ("selection=\"best\"", "selection='best'"), ("memory_size=0", "memory_size=0")):
        out = dd(None, "distill", "--method", "igd", "--ipc", "1", "--out", str(tmp_path / "x"), "--param", param)   # in this process
        assert out.returncode == 2 and msg in out.stderr, (param, out.stderr)


# --- issue 24: influence_loss's memory, the checkpoint cap, the authors' settings ---------------------------------------

def _surrogate(K, im_size=16, seed=0):
    "A ConvNet-3 surrogate of K checkpoints with random weights and G_c (memory and gradients depend on shapes only)."
    import torch.nn.functional as F  # noqa: F401
    from dd_nb.igd import Surrogate
    from dd_nb.models import get_network
    g = torch.Generator().manual_seed(seed)
    net = get_network("convnet3", 1, 10, im_size).eval()
    params = [{k: v.detach() + 0.01 * torch.randn(v.shape, generator=g) for k, v in net.named_parameters()} for _ in range(K)]
    P = sum(v.numel() for v in params[0].values())
    return Surrogate(net, params, [{} for _ in range(K)], [0.01] * K, torch.randn(K, 10, P, generator=g),
                     torch.tensor([0.5]), torch.tensor([0.25]), list(range(K)), 1, im_size, 10)


def _summed_form(s, images, classes):
    "The former influence_loss: every checkpoint's term summed, one graph through all of them until the caller's backward."
    import torch.nn.functional as F
    from dd_nb.igd import per_sample_param_grads, surrogate_input
    x, y, total = surrogate_input(s, images.to(s.mean.dtype)), torch.as_tensor(classes).long(), 0.0
    for p, b, lr, G in zip(s.params, s.buffers, s.lrs, s.class_grads):
        total = total + lr * (1 - F.cosine_similarity(per_sample_param_grads(s.net, p, b, x, y), G[y], dim=1))
    return total / sum(s.lrs)


def test_influence_loss_value_and_latent_gradient_equal_the_summed_form():
    from dd_nb.igd import influence_loss
    torch.manual_seed(0)
    # in float64, where both forms are exact to rounding (in float32 each has ~1e-5 relative error of its own)
    s, dec = _surrogate(3).to(dtype=torch.float64), torch.nn.ConvTranspose2d(2, 1, 2, stride=2).double()   # latents -> 16 px
    z, y = torch.randn(5, 2, 8, 8, dtype=torch.float64, requires_grad=True), torch.tensor([0, 3, 3, 7, 9])
    new, old = influence_loss(s, torch.sigmoid(dec(z)), y), _summed_form(s, torch.sigmoid(dec(z)), y)
    torch.testing.assert_close(new, old, rtol=1e-12, atol=1e-12)
    gn, = torch.autograd.grad(new.sum(), z)
    go, = torch.autograd.grad(old.sum(), z)
    assert float((gn - go).norm() / go.norm()) < 1e-10 and go.abs().max() > 0


def _graph_bytes(*outputs, exclude=()):
    "Bytes of the distinct tensors autograd still holds for a backward from `outputs` (freed graphs count 0), but `exclude`'s."
    out_of_graph = {t.untyped_storage().data_ptr() for t in exclude}   # the surrogate's own tensors: no memory of the graph's
    seen, storages, stack = set(), {}, [t.grad_fn for t in outputs]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen: continue
        seen.add(fn)
        for name in (n for n in dir(fn) if n.startswith("_saved_")):
            try: v = getattr(fn, name)
            except RuntimeError: continue
            for t in (v if isinstance(v, (tuple, list)) else [v]):
                if isinstance(t, torch.Tensor): storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        stack.extend(f for f, _ in fn.next_functions)
    return sum(v for k, v in storages.items() if k not in out_of_graph)


def test_influence_loss_memory_does_not_grow_with_checkpoints(monkeypatch):
    "Bytes autograd holds (saved tensors in the graph) at the peak and after the return: the same for 1 and 4 checkpoints."
    import dd_nb.igd as igd
    real = igd.class_grad_cosine   # one per checkpoint: the bytes held are counted as each checkpoint's term is complete
    def held(K):
        outs, peak = [], [0]
        def spy(*a, **kw):
            c = real(*a, **kw); outs.append(c); peak[0] = max(peak[0], _graph_bytes(*outs, exclude=kept)); return c
        monkeypatch.setattr(igd, "class_grad_cosine", spy)
        x, s = torch.rand(3, 1, 16, 16, requires_grad=True), _surrogate(K)
        kept = [s.class_grads, *(v for p in s.params for v in p.values())]
        loss = igd.influence_loss(s, x * 1.0, torch.tensor([1, 2, 3]))
        monkeypatch.setattr(igd, "class_grad_cosine", real)
        assert len(outs) == K    # the spy saw every checkpoint's cosine
        return peak[0], _graph_bytes(loss, exclude=kept)
    (p1, h1), (p4, h4) = held(1), held(4)
    assert p1 > 0 and p4 <= 1.05 * p1, (p1, p4)          # the summed form holds all four graphs at its peak: 4x
    assert h4 <= 1.05 * h1 and h4 < 0.2 * p1, (h1, h4, p1)  # after the return only the input's graph is left


def test_igd_refuses_more_checkpoints_than_the_cap(tmp_path):
    import pytest
    from dd_nb.checkpoints import train_surrogate_trajectory
    from dd_nb.data import load_dataset
    from dd_nb.igd import igd
    tr = load_dataset("digits")
    small = tr.subset(torch.cat([tr.indices_of(c)[:5] for c in range(10)]))
    path = train_surrogate_trajectory(small, arch="convnet3", epochs=3, batch_size=25, progress=False, out=tmp_path / "t")
    long = train_surrogate_trajectory(small, arch="convnet3", epochs=10, batch_size=25, progress=False, out=tmp_path / "l")
    kw = dict(backend_kw={"steps": 40, "batch": 16}, steps=10, window=(2, 7), trajectory=path, progress=False)
    with pytest.raises(ValueError, match=r"4 checkpoints \[0, 1, 2, 3\], more than max_checkpoints=3.*max_checkpoints=4"):
        igd(small, 1, selection=[0, 1, 2, 3], max_checkpoints=3, **kw)
    with pytest.raises(ValueError, match="max_checkpoints=0"):
        igd(small, 1, selection=[0, 1], max_checkpoints=0, **kw)
    with pytest.raises(ValueError, match=r"11 checkpoints .* more than max_checkpoints=10"):   # the default cap (was a warning)
        igd(small, 1, selection=list(range(11)), trajectory=long, **{k: v for k, v in kw.items() if k != "trajectory"})


def test_evaluation_epochs_default_to_the_protocol_per_ipc():
    import yaml
    from pathlib import Path
    from dd_nb.igd import evaluation_epochs
    assert [evaluation_epochs(i) for i in (1, 10, 20, 50)] == [2000, 2000, 1500, 1500]   # the authors' ipc_epoch
    assert evaluation_epochs(10, 300) == 300
    profiles = yaml.safe_load((Path(__file__).parents[1] / "experiments" / "22_igd.yaml").read_text())
    for name in ("paper", "paper-code"):   # the paper profiles never override default_epochs
        assert profiles[name]["epochs"] is None, name
        assert profiles[name]["size"] == 256 and profiles[name]["surrogate_batch"] == 64, name
        assert profiles[name]["backend_kw"]["vae"].endswith("sd-vae-ft-mse") and profiles[name]["tf32"] is True, name
    assert profiles["paper"]["scheduler"] == "ddim" and profiles["paper-code"]["scheduler"] == "dit-ddpm"
    assert profiles["paper-code"]["cfg_channels"] == 3 and "cfg_channels" not in profiles["paper"]


def test_surrogate_at_the_authors_size():
    "ConvNet-6 on 256 px images, as the authors' define_model builds it (4 x 4 maps, 2048 features)."
    from dd_nb.checkpoints import check_norm_maps
    from dd_nb.models import get_network
    net = get_network("convnet6", 3, 10, 256).eval()
    assert net.feat_dim == 2048 and net(torch.rand(2, 3, 256, 256)).shape == (2, 10)
    check_norm_maps(net, 3, 256, "convnet6")


def test_tf32_only_on_cuda():
    from dd_nb.igd import set_tf32
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    assert set_tf32(True, "cpu") is False and set_tf32(False, "cpu") is False
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_influence_loss_without_grad_builds_no_graph():
    "Scoring a finished set (Fig. 2) needs only values: no graph is built and the values are those of the guided path."
    from dd_nb.igd import influence_loss
    s, x, y = _surrogate(2), torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])
    with torch.no_grad(): v = influence_loss(s, x, y)
    assert v.grad_fn is None and not v.requires_grad
    torch.testing.assert_close(v, influence_loss(s, x.clone().requires_grad_(True), y).detach(), rtol=1e-6, atol=1e-7)


def test_class_map_falls_back_to_the_datasets_imagenet_indices():
    "A 1000-class backend on an ImageNet subset needs no class_map by hand: load_dataset records the ImageNet indices."
    from types import SimpleNamespace
    from dd_nb.diffusion import backend_class_map as _class_map
    ds = SimpleNamespace(num_classes=10, class_map=[0, 217, 482, 491, 497, 566, 569, 571, 574, 701])
    assert _class_map(None, SimpleNamespace(num_classes=1000), ds) == ds.class_map
    assert _class_map([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], SimpleNamespace(num_classes=1000), ds)[0] == 1   # a given map wins
    assert _class_map(None, SimpleNamespace(num_classes=10), ds) == list(range(10))                 # same class count: itself
    with pytest.raises(ValueError, match="pass class_map"):
        _class_map(None, SimpleNamespace(num_classes=1000), SimpleNamespace(num_classes=10, class_map=None))

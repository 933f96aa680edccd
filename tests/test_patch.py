"Patch selection end to end: `dd distill --method patch` on digits and the soft protocol on its set; a reused bank selects any IPC and class subset without the denoiser; bad input fails before work."
import pytest
import torch

from dd_nb.core import DistilledSet
from dd_nb.data import load_dataset
from test_cli import dd   # `dd ARGS` through the console script's main, in this process (a process start costs ~10 s)

SMOKE = ["--param", 'backend_kw={"steps": 40, "batch": 16}', "--param", "samples=2", "--param", "teacher_epochs=1",
         "--param", "progress=false"]


def small_digits(per_class=25):
    tr = load_dataset("digits")
    return tr.subset(torch.cat([tr.indices_of(c)[:per_class] for c in range(10)]))


def test_patch_distill_end_to_end(dd_bin, tmp_path):
    bank = tmp_path / "bank.safetensors"
    out = dd(dd_bin, "distill", "--method", "patch", "--dataset", "digits", "--ipc", 1, "--out", tmp_path / "p1", *SMOKE,
             "--param", f"cache={bank}")
    assert out.returncode == 0, out.stderr
    ds = DistilledSet.load(tmp_path / "p1")
    assert ds.images.shape == (10, 1, 16, 16) and ds.labels.tolist() == list(range(10))
    assert ds.meta["method"] == "patch" and ds.meta["dataset"] == "digits" and ds.meta["layout"] == "stitched"
    assert ds.soft_labels.shape == (10, 10) and ds.meta["teacher"]["arch"] == "convnet3" and bank.exists()
    tr = load_dataset("digits")   # every stitched image is made of 4 real training digits of its own class
    assert (tr.labels[ds.meta["patches"]].view(10, 4) == torch.arange(10)[:, None]).all()
    ev = dd(dd_bin, "evaluate", tmp_path / "p1", "--protocol", "soft", "--runs", 1, "--epochs", 2)
    assert ev.returncode == 0 and "soft" in ev.stdout, ev.stderr


def test_reuse_selects_any_ipc_and_classes_without_the_denoiser(tmp_path, monkeypatch):
    from dd_nb.diffusion import DiTBackend
    from dd_nb.methods import distill
    import dd_nb.patch as patch_mod
    small = small_digits()
    kw = dict(backend_kw={"steps": 40, "batch": 16}, samples=2, soft_labels=False, progress=False,
              cache=str(tmp_path / "bank.safetensors"))
    first = distill("patch", small, 1, **kw)
    def no_denoiser(*a, **k): raise AssertionError("the denoiser was called on reuse")
    monkeypatch.setattr(DiTBackend, "model_output", no_denoiser)
    monkeypatch.setattr(patch_mod, "load_patch_backend", no_denoiser)
    assert torch.equal(distill("patch", small, 1, **kw).images, first.images)
    big = distill("patch", small, 20, **kw)
    assert big.images.shape == (200, 1, 16, 16) and big.meta["layout"] == "single"
    sub = distill("patch", small, 5, classes=["0", "9"], **kw)
    assert sub.labels.tolist() == [0] * 5 + [9] * 5 and sub.meta["layout"] == "stitched"


def test_patch_bad_inputs(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "patch", "--ipc", 1, "--out", tmp_path / "x", "--param", "t_range=[0.5, 1.2]")
    assert out.returncode == 2 and "t_range=(0.5, 1.2)" in out.stderr, out.stderr
    assert not (tmp_path / "x").exists()
    from dd_nb.patch import patch_select
    small = small_digits()
    for kw, msg in ((dict(patch_size=40), "patch_size=40"), (dict(classes=["1", "cat"]), "['cat'] not in 'digits'"),
                    (dict(scorer="clip"), "scorer='clip'"), (dict(layout="grid"), "layout='grid'")):
        with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            patch_select(small, 1, cache=False, progress=False, **kw)
    with pytest.raises(ValueError, match="needs 40 patches per class"):
        patch_select(small, 10, cache=False, progress=False)


def toy_rgb(n_per_class=4, size=32, seed=0):
    from dd_nb.data import ImageDataset
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.rand(3 * n_per_class, 3, size, size, generator=g), torch.arange(3).repeat_interleave(n_per_class),
                        ["cat", "dog", "ship"], "toy")


def test_stable_diffusion_and_dit_backends(tmp_path):
    "The latent backends on saved tiny random pipelines: SD with prompts and cropped patches, DiT with a class map."
    from test_diffusion import tiny_sd_pipeline
    from dd_nb.diffusion import get_backend, tiny_random_dit_pipeline
    from dd_nb.patch import class_evidence, evidence_map, patch_select
    tiny_sd_pipeline(tmp_path / "tok").save_pretrained(tmp_path / "sd")
    toy = toy_rgb()
    bk = get_backend("sd", pretrained=tmp_path / "sd", class_names=toy.classes, device="cpu")
    m = evidence_map(bk, toy.images[:3], [0, 1, 2], samples=2)
    assert m.shape == (3, 16, 16) and torch.isfinite(m).all()          # the tiny VAE halves the size
    torch.testing.assert_close(class_evidence(bk, toy.images[1:3], [1, 2], samples=2, keys=[1, 2]), m[1:].flatten(1).mean(1),
                               atol=1e-5, rtol=0)
    ds = patch_select(toy, 1, backend="sd", pretrained=str(tmp_path / "sd"), backend_kw={"device": "cpu"}, patch_size=24,
                      samples=2, soft_labels=False, cache=False, progress=False)
    assert ds.images.shape == (3, 3, 32, 32) and ds.meta["layout"] == "stitched"
    assert all(0 <= y <= 8 and 0 <= x <= 8 for y, x in ds.meta["offsets"])
    tiny_random_dit_pipeline().save_pretrained(tmp_path / "dit")
    toy16 = toy_rgb(size=16)
    dit = patch_select(toy16, 1, layout="single", backend="dit", pretrained=str(tmp_path / "dit"), backend_kw={"device": "cpu"},
                       class_map=[5, 17, 999], samples=2, soft_labels=False, cache=False, progress=False)
    assert dit.images.shape == (3, 3, 16, 16) and dit.meta["layout"] == "single"
    with pytest.raises(ValueError, match="class_map"):
        patch_select(toy16, 1, backend="dit", pretrained=str(tmp_path / "dit"), samples=2, soft_labels=False, cache=False, progress=False)


class _Where(torch.nn.Module):
    "Records the device its inputs arrive on and answers on the CPU, like a model that hands its results back."
    def __init__(self, classes=3, dim=4):
        super().__init__()
        self.w, self.seen, self.classes, self.dim = torch.nn.Parameter(torch.zeros(1)), set(), classes, dim

    def forward(self, x):
        self.seen.add(x.device.type)
        return torch.zeros(len(x), self.classes)

    def features(self, x):
        self.seen.add(x.device.type)
        return torch.zeros(len(x), self.dim)


def _no_move(*a, **k):
    raise AssertionError("a caller's network was moved")


def test_patch_networks_are_never_moved_and_get_images_on_their_device():
    "classifier_windows, classifier_features and teacher_soft_labels send CPU images to the network's device (meta here)."
    from dd_nb.patch import classifier_features, classifier_windows, teacher_soft_labels
    toy = toy_rgb()
    net = _Where().to("meta")
    net.to = _no_move
    s, off = classifier_windows(net, toy.images, toy.labels, toy.mean, toy.std, patch_size=24, batch_size=5)
    assert net.seen == {"meta"} and s.device.type == "cpu" and off.shape == (len(toy), 2)
    net.seen.clear()
    f = classifier_features(net, toy.images, toy.mean, toy.std, (16, 16), batch_size=5)
    assert net.seen == {"meta"} and f.shape == (len(toy), 4) and f.device.type == "cpu"
    net.seen.clear()
    p = teacher_soft_labels(net, toy.images, toy.mean, toy.std, temperature=4.0, batch_size=5)
    assert net.seen == {"meta"} and p.device.type == "cpu"
    torch.testing.assert_close(p, torch.full((len(toy), 3), 1 / 3))


def test_patch_networks_on_the_test_device():
    "A real ConvNet left on DD_NB_DEVICE (cpu unless set) scores, embeds and labels CPU images without being moved."
    import os
    from dd_nb.models import get_network
    from dd_nb.patch import classifier_features, classifier_windows, teacher_soft_labels
    toy = toy_rgb()
    dev = torch.device(os.environ.get("DD_NB_DEVICE", "cpu"))
    torch.manual_seed(0)
    cpu_net = get_network("convnet3", 3, 3, (32, 32)).eval()
    net = get_network("convnet3", 3, 3, (32, 32)).to(dev)
    net.load_state_dict(cpu_net.state_dict())
    net.to = _no_move
    s, off = classifier_windows(net, toy.images, toy.labels, toy.mean, toy.std, patch_size=24)
    s0, off0 = classifier_windows(cpu_net, toy.images, toy.labels, toy.mean, toy.std, patch_size=24)
    torch.testing.assert_close(s, s0, atol=1e-4, rtol=1e-4)
    f = classifier_features(net, toy.images, toy.mean, toy.std, (32, 32))
    torch.testing.assert_close(f, classifier_features(cpu_net, toy.images, toy.mean, toy.std, (32, 32)), atol=1e-4, rtol=1e-4)
    p = teacher_soft_labels(net, toy.images, toy.mean, toy.std)
    assert p.device.type == "cpu" and next(net.parameters()).device.type == dev.type
    torch.testing.assert_close(p.sum(1), torch.ones(len(toy)))

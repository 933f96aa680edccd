"Integration checks of the foundation: data, networks, DistilledSet files, evaluation inputs."
import json

import pytest
import torch

from dd_nb.core import DistilledSet
from dd_nb.data import load_dataset
from dd_nb.evaluation import evaluate
from dd_nb.methods import distill
from dd_nb.models import get_network


def test_unknown_names_list_known_ones():
    with pytest.raises(ValueError, match="known: digits"):
        load_dataset("imagenet21k")
    with pytest.raises(ValueError, match="convnet3.*resnet18_bn"):
        get_network("vit", 1, 10, 16)
    with pytest.raises(ValueError, match="known:.*random"):
        distill("dream", "digits", 1)


def test_ipc_larger_than_smallest_class():
    with pytest.raises(ValueError, match="valid 1 to 139"):
        distill("random", "digits", 140)
    assert len(distill("random", "digits", 139)) == 1390


def test_images_that_do_not_fit_the_network():
    net = get_network("convnet3", 1, 10, 16)
    with pytest.raises(ValueError, match=r"built for inputs \(N, 1, 16, 16\)"):
        net(torch.rand(2, 1, 32, 32))
    ds = distill("random", load_dataset("digits", size=32), 1)
    with pytest.raises(ValueError, match=r"\(1, 32, 32\).*\(1, 16, 16\)"):
        evaluate(ds, load_dataset("digits"), runs=1, epochs=1)


def test_runs_must_be_positive():
    with pytest.raises(ValueError, match="runs=0"):
        evaluate(distill("random", "digits", 1), "digits", runs=0)


def test_distilled_set_files(tmp_path):
    ds = distill("random", "digits", 2)
    ds.save(tmp_path / "a.safetensors")
    raw = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(raw[:-50])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        DistilledSet.load(tmp_path / "trunc.safetensors")
    # a valid safetensors file that is not a DistilledSet
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="not a DistilledSet"):
        DistilledSet.load(tmp_path / "model.safetensors")
    # the file carries no code: its header is plain JSON
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["format"].startswith("dd_nb.DistilledSet")
    back = DistilledSet.load(tmp_path / "a.safetensors")
    assert back.meta["method"] == "random" and back.meta["classes"] == [str(i) for i in range(10)]


def test_image_folder_round_trip(tmp_path):
    import torchvision
    ds = distill("random", "digits", 2)
    ds.to_image_folder(tmp_path / "png")
    tv = torchvision.datasets.ImageFolder(str(tmp_path / "png"))
    assert len(tv) == 20 and tv.classes == [str(i) for i in range(10)]
    back = DistilledSet.from_image_folder(tmp_path / "png")
    assert torch.allclose(back.images, ds.images, atol=1 / 255) and torch.equal(back.labels, ds.labels)


def test_folder_dataset_and_missing_layout(tmp_path):
    import numpy as np
    from PIL import Image
    for split in ("train", "val"):
        for c in ("cat", "dog", "eel"):
            (tmp_path / split / c).mkdir(parents=True)
            for k in range(3):
                Image.fromarray(np.random.randint(0, 255, (40, 30, 3), np.uint8)).save(tmp_path / split / c / f"{k}.png")
    tr = load_dataset(f"folder:{tmp_path}", size=16)
    te = load_dataset(f"folder:{tmp_path}", "test", size=16)
    assert tr.images.shape == (9, 3, 16, 16) and te.classes == ["cat", "dog", "eel"]
    ds = distill("random", tr, 2)
    res = evaluate(ds, (tr, te), runs=1, epochs=2, progress=False)
    assert 0 <= res.mean <= 1
    with pytest.raises(FileNotFoundError, match="imagewoof.*wnid"):
        load_dataset("imagewoof", root=tmp_path)


def test_soft_protocol_runs_with_a_teacher(tmp_path, monkeypatch):
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path))
    tr = load_dataset("digits").subset(torch.arange(300))
    te = load_dataset("digits", "test")
    res = evaluate(distill("random", tr, 5), (tr, te), protocol="soft", runs=1, epochs=5, progress=False)
    assert res.protocol == "soft" and 0 <= res.mean <= 1
    assert list(tmp_path.glob("ref_*.safetensors"))         # the teacher is cached as safetensors

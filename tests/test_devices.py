"""Issue 24 items 1-3: a model's device is the model's business. Functions move data to a caller's model and never move it;
a returned model is on the documented device whether trained now or read from the cache; LGD's stages read their test split
from the dataset's root. Run with DD_NB_DEVICE=cuda on a GPU machine these cover the CUDA paths; on the CPU the `meta` device
stands in for a second device where a function's output can stay there."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dd_nb.core import default_device, model_device
from dd_nb.data import CLASS_SPLITS, load_dataset
from dd_nb.models import get_network
from dd_nb.train import predict, reference_model


def _no_moves(net):
    "The network, with every way of moving it turned into an error."
    def moved(*a, **k): raise AssertionError("a function moved the caller's model")
    net.to = net.cuda = net.cpu = moved
    return net


def test_reference_model_device_fresh_and_cached(tmp_path, monkeypatch):
    "Trained now or read from the cache: the same device, the one asked for (default: default_device())."
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path))
    ds = load_dataset("digits").subset(torch.arange(200))
    fresh = reference_model(ds, epochs=1, progress=False)
    cached = reference_model(ds, epochs=1, progress=False)
    assert len(list(tmp_path.glob("ref_*.safetensors"))) == 1          # the second call read the cache
    assert model_device(fresh) == model_device(cached) == default_device()
    for a, b in zip(fresh.state_dict().values(), cached.state_dict().values()): assert torch.equal(a.cpu(), b.cpu())
    # predict on the returned model with CPU images: the images travel, the model stays
    logits = predict(_no_moves(cached), ds.images[:5], ds.mean, ds.std)
    assert logits.shape == (5, 10) and logits.device.type == "cpu"


def test_judge_and_accuracy_take_cpu_images():
    "The quality judge keeps its statistics where its network is and classifies CPU images without moving it."
    from dd_nb.quality import Normalized, classify_accuracy
    net = get_network("convnet3", 1, 10, 16).to(default_device())
    judge = Normalized(net, torch.zeros(1), torch.ones(1))
    assert judge.mean.device == model_device(net)
    acc = classify_accuracy(_no_moves(judge), torch.rand(6, 1, 16, 16), torch.zeros(6, dtype=torch.long))
    assert 0 <= acc <= 1


def _imagenette_tree(root: Path, per_class=2, size=12):
    "An ImageNet-layout tree under the ten ImageNette wnids: train/ and val/ with a few small generated images each."
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for w in CLASS_SPLITS["imagenette"]:
            d = root/split/w
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(d/f"{w}_{i}.JPEG")
    return root


def test_lgd_test_split_read_from_root(tmp_path):
    "lgd's stages read the test split of a dataset kept in files from `root` (before: None for ImageNette and CIFAR-10)."
    from dd_nb.lgd import _test_split
    root = _imagenette_tree(tmp_path/"imagenette")
    train = load_dataset("imagenette", root=root, size=8)
    assert _test_split(train) is None                                  # without the root nothing can be found
    test = _test_split(train, root)
    assert test is not None and len(test) == 20 and test.im_size == (8, 8)
    with pytest.raises(ValueError, match="root='.*nowhere'"):            # a named root that holds no test split
        _test_split(train, tmp_path/"nowhere")


def test_lgd_refuses_a_root_without_the_test_split_before_work(tmp_path, monkeypatch):
    "The check runs before the backend loads or the seed set is made: a wrong root costs nothing."
    from dd_nb import lgd as lgd_mod, diffusion as diffusion_mod
    root = _imagenette_tree(tmp_path/"imagenette")
    train = load_dataset("imagenette", root=root, size=8)
    def no_work(*a, **k): raise AssertionError("the backend was loaded before the root was checked")
    monkeypatch.setattr(diffusion_mod, "load_backend", no_work)       # BackendSpec.load's loader
    with pytest.raises(ValueError, match="no test split of imagenette"):
        lgd_mod.lgd(train, 2, seed_ipc=1, stage_ipc=1, root=str(tmp_path/"nowhere"), progress=False)


def test_lgd_stage_accuracy_with_root(tmp_path):
    "A whole LGD run on an ImageNette-layout tree records every stage's test accuracy when given the root."
    from dd_nb.diffusion import tiny_random_dit_pipeline
    from dd_nb.all import distill
    root = _imagenette_tree(tmp_path/"imagenette", per_class=3, size=20)
    tiny_random_dit_pipeline().save_pretrained(tmp_path/"dit")         # the paper path in miniature: DiT folder + class_map
    # as `dd distill --method lgd --dataset imagenette --root ...` calls it
    s = distill("lgd", "imagenette", 2, seed=0, root=str(root), size=16, backend="dit", pretrained=str(tmp_path/"dit"),
                       class_map=[0, 217, 482, 491, 497, 566, 569, 571, 574, 701], seed_method="random",
                       seed_ipc=1, stage_ipc=1, candidates=2, steps=4, window=(0, 3), learner="convnet3",
                       reference_epochs=1, max_epochs=2, patience=1, finetune_epochs=0, eval_every=1, val_per_class=1,
                       guidance_batch_size=4, progress=False)
    accs = [st["test_acc"] for st in s.meta["stages"]]
    assert len(accs) == 2 and all(a is not None and 0 <= a <= 1 for a in accs)


def test_lazy_split_trains_like_the_same_split_in_memory(tmp_path, monkeypatch):
    """A lazily decoded split (ImageNet-1K's kind) trains batch by batch and gives the weights of the same split in memory;
    herding's reference model and features run on it."""
    from dd_nb.all import distill
    from dd_nb.train import get_protocol, train_classifier
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"cache"))
    root = _imagenette_tree(tmp_path/"imagenette", per_class=3, size=20)
    lazy = load_dataset("imagenette", root=root, size=16, lazy=True)
    eager = lazy.to_memory()
    assert not torch.is_tensor(lazy.images) and torch.is_tensor(eager.images)
    def trained(ds):
        torch.manual_seed(0)
        net = get_network("convnet3", 3, 10, 16)
        net, _ = train_classifier(net, ds.images, ds.labels, get_protocol("hard", batch_size=8), 2, eager.mean, eager.std, 10)
        return net
    for a, b in zip(trained(lazy).state_dict().values(), trained(eager).state_dict().values()): assert torch.equal(a, b)
    s = distill("herding", lazy, 1, feature_epochs=1)
    assert s.images.shape == (10, 3, 16, 16) and s.labels.tolist() == list(range(10))


def test_run_record_digests_a_dataset_under_a_relative_root(tmp_path):
    "A profile's root is relative to nbs/ (where its notebook runs): the run record digests that dataset."
    from dd_nb.reproduce import dataset_digest
    (tmp_path/"nbs").mkdir()
    _imagenette_tree(tmp_path/"data"/"imagenette", per_class=1, size=20)
    d = dataset_digest({"dataset": "imagenette", "root": "../data/imagenette", "size": 16}, tmp_path)
    assert d == load_dataset("imagenette", root=tmp_path/"data"/"imagenette", size=16).digest()

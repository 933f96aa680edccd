"ImageNet data (01_data): subsets read from an ImageNet root or fast.ai's release with class_map and source recorded, and ImageNet-1K decoded per access."
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from dd_nb.data import CLASS_SPLITS, FolderDataset, ImageDataset, imagenet_class_index, load_dataset

NETTE = CLASS_SPLITS["imagenette"]
OTHERS = ["n01443537", "n15075141"]          # goldfish (1) and toilet tissue (999): an ImageNet root holds more classes
NETTE_INDEX = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
PER_CLASS = {"train": 3, "val": 2}


def _tree(root: Path, wnids, splits=("train", "val"), seed=0) -> Path:
    "<root>/{train,val}/<wnid>/*.JPEG: a few generated 40x30 images per wnid."
    rng = np.random.default_rng(seed)
    for split in splits:
        for w in wnids:
            (root / split / w).mkdir(parents=True)
            for k in range(PER_CLASS[split]):
                px = rng.integers(0, 256, (30, 40, 3), np.uint8)
                PIL.Image.fromarray(px).save(root / split / w / f"{w}_{k}.JPEG", quality=90)
    return root


@pytest.fixture
def imagenet_root(tmp_path):
    return _tree(tmp_path / "imagenet", NETTE[::-1] + OTHERS)


@pytest.fixture
def fastai_root(tmp_path):
    root = _tree(tmp_path / "imagenette2", NETTE, seed=1)
    (root / "noisy_imagenette.csv").write_text("path,noisy_labels_0\n")   # fast.ai's archives ship this file
    return root


@pytest.fixture
def opens(monkeypatch):
    "Count the image files PIL opens."
    calls = []
    real = PIL.Image.open
    monkeypatch.setattr(PIL.Image, "open", lambda fp, *a, **k: calls.append(getattr(fp, "name", fp)) or real(fp, *a, **k))
    return calls


def test_subset_from_an_imagenet_root(imagenet_root, opens):
    ds = load_dataset("imagenette", root=imagenet_root, size=16, source="imagenet")
    assert type(ds) is ImageDataset and ds.images.shape == (30, 3, 16, 16)
    assert ds.classes == NETTE and ds.class_map == NETTE_INDEX and ds.source == "imagenet"
    assert ds.class_counts().tolist() == [3] * 10
    assert len(opens) == 30 and not [p for p in opens if any(w in str(p) for w in OTHERS)]   # only the 10 wnid folders
    assert load_dataset("imagenette", root=imagenet_root, size=16).source == "imagenet"    # detected: other classes
    val = load_dataset("imagenette", "val", root=imagenet_root, size=16, source="imagenet")
    assert val.classes == NETTE and val.class_counts().tolist() == [2] * 10 and val.class_map == NETTE_INDEX
    sub = ds.subset(torch.arange(3, 9))
    assert sub.class_map == NETTE_INDEX and sub.source == "imagenet"


def test_the_parachute_is_imagenet_class_701():
    assert NETTE[-1] == "n03888257" and imagenet_class_index(NETTE) == NETTE_INDEX
    assert imagenet_class_index(CLASS_SPLITS["imagewoof"]) == [155, 159, 162, 167, 182, 193, 207, 229, 258, 273]


def test_fastai_release(fastai_root, imagenet_root, tmp_path):
    ds = load_dataset("imagenette", root=fastai_root, size=16)
    assert ds.source == "fastai-imagenette2" and ds.class_map == NETTE_INDEX and len(ds) == 30
    assert load_dataset("imagenette", "test", root=fastai_root, size=16, source="fastai").source == "fastai-imagenette2"
    again = load_dataset("imagenette", "val", root=fastai_root, size=16, source=ds.source)   # a recorded source reloads it
    assert again.source == "fastai-imagenette2" and len(again) == 20
    bare = _tree(tmp_path / "bare", NETTE, splits=("train",))
    assert load_dataset("imagenette", root=bare, size=16).source == "unknown"   # only the 10 folders: the profile names it
    with pytest.raises(ValueError, match="an ImageNet root\\?"):
        load_dataset("imagenette", root=imagenet_root, source="fastai")
    with pytest.raises(ValueError, match="fast.ai released imagenette, imagewoof only"):
        load_dataset("imageidc", root=imagenet_root, source="fastai")
    with pytest.raises(ValueError, match="unknown source 'hub'.*'imagenet', 'fastai'"):
        load_dataset("imagenette", root=fastai_root, source="hub")
    with pytest.raises(ValueError, match="source applies to the ImageNet subsets"):
        load_dataset("cifar10", root=fastai_root, source="fastai")


def test_missing_wnid_and_flat_val_fail_clearly(imagenet_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="imagewoof.*missing wnid folders \\['n02086240'"):
        load_dataset("imagewoof", root=imagenet_root, source="imagenet")
    flat = _tree(tmp_path / "raw", NETTE, splits=("train",))
    (flat / "val").mkdir()
    for k in range(3):
        PIL.Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(flat / "val" / f"ILSVRC2012_val_{k:08d}.JPEG")
    with pytest.raises(FileNotFoundError, match="holds 3 images directly.*val/<wnid>/\\*.JPEG"):
        load_dataset("imagenette", "val", root=flat, source="imagenet")


def test_imagenet1k_decodes_per_access(imagenet_root, opens):
    ds = load_dataset("imagenet1k", root=imagenet_root, size=16)
    assert isinstance(ds, FolderDataset) and isinstance(ds, ImageDataset) and not opens   # nothing decoded yet
    wnids = sorted(NETTE + OTHERS)
    assert ds.classes == wnids and ds.class_map == imagenet_class_index(wnids) and ds.source == "imagenet"
    assert ds.class_map[:2] == [0, 1] and ds.class_map[-1] == 999
    assert len(ds) == 36 and ds.images.shape == (36, 3, 16, 16) and ds.im_size == (16, 16) and ds.channels == 3
    assert ds.class_counts().tolist() == [3] * 12 and ds.indices_of(1).tolist() == [3, 4, 5] and not opens
    x = ds.images[[0, 7]]
    assert x.shape == (2, 3, 16, 16) and len(opens) == 2                               # just those two files
    assert ds.images_of(2).shape == (3, 3, 16, 16) and len(opens) == 5
    # the same pixels as torchvision's ImageFolder with a resize + center crop (the in-memory loader's path before)
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2
    tf = v2.Compose([v2.ToImage(), v2.Resize(16, antialias=True), v2.CenterCrop(16), v2.ToDtype(torch.float32, scale=True)])
    ref = ImageFolder(str(imagenet_root / "train"), transform=tf)
    assert [y for _, y in ref.samples] == ds.labels.tolist()
    assert torch.equal(x, torch.stack([ref[0][0], ref[7][0]]))
    eager = load_dataset("imagenet1k", root=imagenet_root, size=16, lazy=False)
    assert type(eager) is ImageDataset and torch.equal(eager.images, torch.stack([ref[i][0] for i in range(len(ref))]))
    assert eager.class_map == ds.class_map and eager.source == "imagenet"
    # mean/std from a bounded, evenly spread sample
    FolderDataset.STAT_IMAGES, old = 36, FolderDataset.STAT_IMAGES
    try: torch.testing.assert_close(ds.mean, eager.mean)
    finally: FolderDataset.STAT_IMAGES = old
    val = load_dataset("imagenet1k", "val", root=imagenet_root, size=16)
    assert val.classes == wnids and len(val) == 24


def test_loader_workers_and_digest(imagenet_root, opens):
    ds = load_dataset("imagenette", root=imagenet_root, size=16, lazy=True)
    assert isinstance(ds, FolderDataset) and ds.class_map == NETTE_INDEX and ds.source == "imagenet"
    one = [(x, y) for x, y in ds.loader(batch_size=8, workers=0)]
    two = [(x, y) for x, y in ds.loader(batch_size=8, workers=2)]                  # decoded in two worker processes
    assert [x.shape[0] for x, _ in one] == [8, 8, 8, 6]
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(one, two))
    shuffled = torch.cat([y for _, y in ds.loader(batch_size=8, shuffle=True, seed=3)])
    assert sorted(shuffled.tolist()) == sorted(ds.labels.tolist()) and shuffled.tolist() != ds.labels.tolist()
    with pytest.raises(ValueError, match="workers=-1; valid: an int >= 0"):
        ds.loader(workers=-1)
    opens.clear()
    d0 = ds.digest()
    assert not opens and d0 == load_dataset("imagenette", root=imagenet_root, size=16, lazy=True).digest()
    assert d0 != load_dataset("imagenette", root=imagenet_root, size=24, lazy=True).digest()
    f = Path(ds.paths[4])
    f.write_bytes(f.read_bytes() + b"\0")                                           # one file changed: another digest
    assert ds.digest() != d0

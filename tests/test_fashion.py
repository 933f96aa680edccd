"Fashion-MNIST from Debian's dataset-fashion-mnist: the real splits and `dd distill` on them (skipped where it is absent)."
import gzip

import pytest
import torch

from dd_nb.cli import main
from dd_nb.core import DistilledSet
from dd_nb.data import FASHION_MNIST_CLASSES, fashion_mnist_files, load_dataset


def _installed() -> str | None:
    "None when the four IDX files are where Debian puts them, else why not."
    try: fashion_mnist_files(); return None
    except FileNotFoundError as e: return str(e)


needs_data = pytest.mark.skipif(_installed() is not None, reason=f"Fashion-MNIST absent (make install adds it where apt-get may): {_installed()}")


@pytest.fixture(scope="module")
def splits():
    return load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")


@needs_data
def test_official_split(splits):
    tr, te = splits
    assert (len(tr), len(te)) == (60_000, 10_000)
    for ds, per_class in ((tr, 6_000), (te, 1_000)):
        assert ds.images.shape[1:] == (1, 28, 28) and ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
        assert ds.images.min() == 0 and ds.images.max() == 1
        assert ds.class_counts().tolist() == [per_class] * 10          # labels 0..9, balanced as published
        assert ds.classes == FASHION_MNIST_CLASSES == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                       "Shirt", "Sneaker", "Bag", "Ankle boot"]
        assert ds.name == "fashion-mnist" and ds.flip_ok
    assert tr.labels[:3].tolist() == [9, 0, 0] and te.labels[:3].tolist() == [9, 2, 1]   # the files' first labels
    assert abs(tr.mean.item() - 0.2860) < 1e-3 and abs(tr.std.item() - 0.3530) < 1e-3       # the usual normalisation


@needs_data
def test_matches_torchvision_reader(splits, tmp_path):
    "torchvision's own IDX reader, on the same test files, gives the same pixels and labels (no transposed or shifted bytes)."
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
    files = fashion_mnist_files()
    for key, name in (("x", "t10k-images-idx3-ubyte"), ("y", "t10k-labels-idx1-ubyte")):
        src = files[name]
        raw = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
        (tmp_path / name).write_bytes(raw)
    x = read_sn3_pascalvincent_tensor(str(tmp_path / "t10k-images-idx3-ubyte"))
    y = read_sn3_pascalvincent_tensor(str(tmp_path / "t10k-labels-idx1-ubyte"))
    te = splits[1]
    assert torch.equal(te.labels, y.long())
    assert torch.equal((te.images[:, 0] * 255).round().to(torch.uint8), x)


@needs_data
def test_dd_distill_random(splits, tmp_path):
    assert main(["distill", "--method", "random", "--dataset", "fashion-mnist", "--ipc", "1", "--out", str(tmp_path / "r1")]) == 0
    ds = DistilledSet.load(tmp_path / "r1")
    assert ds.images.shape == (10, 1, 28, 28) and torch.bincount(ds.labels).tolist() == [1] * 10
    assert ds.meta["dataset"] == "fashion-mnist" and ds.meta["classes"] == FASHION_MNIST_CLASSES
    tr = splits[0]
    for x, c in zip(ds.images, ds.labels):                 # real training images of their own class
        assert (tr.images_of(int(c)) == x).flatten(1).all(1).any()


def test_missing_data_names_both_fixes(tmp_path, capsys):
    "Runs everywhere: a --root without the files fails at once (exit 2) naming the Debian package and --root."
    assert main(["distill", "--method", "random", "--dataset", "fashion-mnist", "--root", str(tmp_path), "--ipc", "1",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "sudo apt-get install dataset-fashion-mnist" in err and "--root <folder>" in err and "t10k-labels-idx1-ubyte" in err
    assert not (tmp_path / "o").exists()

"End-to-end checks of the `dd` command line, run as a user would."
import subprocess

import torch

from dd_nb.core import DistilledSet


def dd(dd_bin, *args):
    return subprocess.run([dd_bin, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_help_lists_methods_and_datasets(dd_bin):
    out = dd(dd_bin, "--help")
    assert out.returncode == 0
    for name in ("random", "herding", "digits", "cifar10", "folder:<path>", "convnet3"):
        assert name in out.stdout
    assert "herding" in dd(dd_bin, "distill", "--help").stdout


def test_distill_then_evaluate(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "digits", "--ipc", 2, "--seed", 3, "--out", tmp_path / "r2")
    assert out.returncode == 0, out.stderr
    ds = DistilledSet.load(tmp_path / "r2")
    assert ds.images.shape == (20, 1, 16, 16) and ds.meta["method"] == "random" and ds.meta["seed"] == 3
    assert torch.bincount(ds.labels).tolist() == [2] * 10
    # the same seed gives the same set
    dd(dd_bin, "distill", "--method", "random", "--ipc", 2, "--seed", 3, "--out", tmp_path / "again")
    assert torch.equal(DistilledSet.load(tmp_path / "again").images, ds.images)
    ev = dd(dd_bin, "evaluate", tmp_path / "r2", "--runs", 2, "--epochs", 5)
    assert ev.returncode == 0, ev.stderr
    assert "2 runs" in ev.stdout and "±" in ev.stdout


def test_method_params_are_passed(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 1, "--out", tmp_path / "x", "--param", "tau=3")
    assert out.returncode == 2 and "takes no parameter" in out.stderr


def test_bad_inputs_fail_clearly(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "magic", "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "known:" in out.stderr and "herding" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "mnist", "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "known: digits" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 1000, "--out", tmp_path / "m")
    assert out.returncode == 2 and "ipc=1000" in out.stderr and "139" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "cifar10", "--root", tmp_path, "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "cifar-10-batches-py" in out.stderr
    assert not (tmp_path / "m").exists()          # nothing half-written
    (tmp_path / "bad").mkdir(); (tmp_path / "bad" / "distilled.safetensors").write_bytes(b"\x00" * 40)
    out = dd(dd_bin, "evaluate", tmp_path / "bad")
    assert out.returncode == 2 and "not a readable DistilledSet" in out.stderr
    out = dd(dd_bin, "evaluate", tmp_path / "nothing-here")
    assert out.returncode == 2 and "no distilled set" in out.stderr


def test_iwd_methods_from_the_command_line(dd_bin, tmp_path):
    "Every IWD variant and its base run from `dd distill`; IDC stores 1 image per class and trains on its 4 decoded ones."
    small = ["--param", "iterations=1", "--param", "batch_real=16"]
    for method, extra in (("iwd-dc", []), ("iwd-dm", ["--param", "tau=0.1", "--param", "refresh=2"]),
                          ("idc", ["--param", "inner_loop=1"]), ("iwd-idc", ["--param", "inner_loop=1"]),
                          ("iwd-pdd", ["--param", "base=dm", "--param", "stage_epochs=1"]),
                          ("influence-select", ["--param", "nets=1"])):
        ipc = 2 if method == "iwd-pdd" else 1
        params = extra if method == "influence-select" else small + extra
        out = dd(dd_bin, "distill", "--method", method, "--ipc", ipc, "--out", tmp_path / method, *params)
        assert out.returncode == 0, (method, out.stderr)
        ds = DistilledSet.load(tmp_path / method)
        assert ds.meta["method"] == method
        per_class = 4 if "idc" in method else ipc
        assert torch.bincount(ds.labels).tolist() == [per_class] * 10, method


def test_iwd_bad_inputs(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "iwd-dc", "--ipc", 1, "--out", tmp_path / "t", "--param", "tau=0")
    assert out.returncode == 2 and "tau=0" in out.stderr and "positive" in out.stderr
    out = dd(dd_bin, "distill", "--method", "iwd-dm", "--ipc", 200, "--out", tmp_path / "t")
    assert out.returncode == 2 and "ipc=200" in out.stderr
    out = dd(dd_bin, "distill", "--method", "pdd", "--ipc", 2, "--out", tmp_path / "t", "--param", "base=herding")
    assert out.returncode == 2 and "valid bases" in out.stderr
    out = dd(dd_bin, "distill", "--method", "iwd-dm", "--ipc", 1, "--out", tmp_path / "t", "--param", "refresh=0")
    assert out.returncode == 2 and "refresh=0" in out.stderr
    assert not (tmp_path / "t").exists()


def test_redundancy_command(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 4, "--out", tmp_path / "r4")
    assert out.returncode == 0, out.stderr
    red = dd(dd_bin, "redundancy", tmp_path / "r4", "--increments", 2, "--epochs", 20)
    assert red.returncode == 0, red.stderr
    assert "redundancy (mean off-diagonal)" in red.stdout and (tmp_path / "r4" / "distilled_redundancy.png").stat().st_size > 1000
    bad = dd(dd_bin, "redundancy", tmp_path / "r4", "--increments", 5)
    assert bad.returncode == 2 and "only 4 images" in bad.stderr

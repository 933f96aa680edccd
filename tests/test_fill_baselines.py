"""scripts/fill_baselines.py: the shared queue hands each task to one live process and takes over a dead one's."""
import importlib.util, os, subprocess, sys

from conftest import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("fill_baselines", ROOT / "scripts" / "fill_baselines.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_claim_once_and_take_over_dead_owner(tmp_path):
    fb = _script()
    assert fb.claim(tmp_path, "dc_ipc1_s0") and (tmp_path / "dc_ipc1_s0").read_text() == str(os.getpid())
    assert fb.claim(tmp_path, "dc_ipc1_s0") is False                     # held by a live process (this one)
    dead = subprocess.Popen([sys.executable, "-c", "pass"]); dead.wait()   # a pid that no longer runs
    (tmp_path / "dm_ipc1_s0").write_text(str(dead.pid))
    assert fb.claim(tmp_path, "dm_ipc1_s0") and (tmp_path / "dm_ipc1_s0").read_text() == str(os.getpid())


def test_task_order():
    "IPC 1 cells, then the protocol check and the full curves (both protocols), then IPC 10: the rows that decide trust come first."
    fb = _script()
    p = dict(methods=["random", "herding", "dc"], ipcs=[1, 10], seeds=[0, 1], protocol="dc", runs=1, epochs=1,
             full_epochs=1, check_protocol={"aug": "none"})
    names = [n for n, _ in fb.tasks(p, store=None, train=None, test=None)]
    assert names == ["random_ipc1_s0", "random_ipc1_s1", "herding_ipc1_s0", "dc_ipc1_s0", "dc_ipc1_s1", "check_random_ipc1",
                     "full_curve", "check_full_curve", "random_ipc10_s0", "random_ipc10_s1", "herding_ipc10_s0", "dc_ipc10_s0", "dc_ipc10_s1",
                     "check_random_ipc10"]


def test_budget_curve_tasks_follow_ipc1():
    "The budget curve's cells come right after the IPC 1 rows and the full curves, one per (iterations, seed)."
    fb = _script()
    p = dict(methods=["dc"], ipcs=[1, 10], seeds=[0, 1], protocol="dc", runs=1, epochs=1, full_epochs=1, budget_curve={"dc": [5, 50]})
    names = [n for n, _ in fb.tasks(p, store=None, train=None, test=None)]
    assert names == ["dc_ipc1_s0", "dc_ipc1_s1", "full_curve", "dc_it5_ipc1_s0", "dc_it5_ipc1_s1", "dc_it50_ipc1_s0", "dc_it50_ipc1_s1",
                     "dc_ipc10_s0", "dc_ipc10_s1"]


def test_only_selects_in_the_order_given():
    "--only runs the tasks matching each glob, glob by glob, each once; a glob that names nothing stops with the task list."
    fb = _script()
    named = [(n, None) for n in ["dc_ipc1_s0", "dc_ipc1_s1", "full_curve", "dc_it50_ipc1_s0", "dm_ipc1_s0"]]
    assert [n for n, _ in fb.select(named, ["dc_it50_*", "dc_*"])] == ["dc_it50_ipc1_s0", "dc_ipc1_s0", "dc_ipc1_s1"]
    assert fb.select(named, None) == named
    import pytest
    with pytest.raises(SystemExit, match="dsa_\\*.*full_curve"): fb.select(named, ["dsa_*"])

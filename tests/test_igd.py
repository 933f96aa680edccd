"IGD end to end through the `dd` command line: a killed run resumes to the same set; only the window's steps are guided."
import json, os, signal, subprocess, time

import torch

from dd_nb.core import DistilledSet

SMOKE = ["--param", 'backend_kw={"steps": 40, "batch": 16}', "--param", "steps=10", "--param", "window=[2, 7]",
         "--param", "surrogate_epochs=2", "--param", "surrogate_batch=64"]


def distill_cmd(dd_bin, out, *extra):
    return [dd_bin, "distill", "--method", "igd", "--dataset", "digits", "--ipc", "5", "--seed", "1", "--out", str(out), *SMOKE, *extra]


def test_igd_resumes_after_a_kill(dd_bin, tmp_path):
    straight = subprocess.run(distill_cmd(dd_bin, tmp_path / "straight"), capture_output=True, text=True, timeout=900)
    assert straight.returncode == 0, straight.stderr
    ref = DistilledSet.load(tmp_path / "straight")
    assert ref.images.shape == (50, 1, 16, 16) and torch.bincount(ref.labels).tolist() == [5] * 10
    assert ref.meta["method"] == "igd" and len(ref.meta["seeds"]) == 50 and ref.meta["run"]["checkpoints"][0] == 0

    state = tmp_path / "run.pt"
    cmd = distill_cmd(dd_bin, tmp_path / "resumed", "--param", f"resume={state}")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while not state.exists() and p.poll() is None: time.sleep(0.02)   # killed as soon as the first round is saved
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    done = torch.load(state, weights_only=True)["done"]
    assert 1 <= done < 5, f"the run was not cut short (done={done})"
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
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
        out = subprocess.run([dd_bin, "distill", "--method", "igd", "--ipc", "1", "--out", str(tmp_path / "x"),
                              "--param", param], capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and msg in out.stderr, (param, out.stderr)

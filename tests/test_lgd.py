"LGD end to end through the `dd` command line: a run killed inside a stage resumes to the same set; bad input fails before work."
import os, signal, subprocess, time

import torch

from dd_nb.core import DistilledSet
from test_cli import dd

SMOKE = ["--param", 'backend_kw={"steps": 40, "batch": 16}', "--param", "steps=10", "--param", "window=[2, 7]",
         "--param", "seed_ipc=1", "--param", "stage_ipc=2", "--param", "candidates=2", "--param", "learner=\"convnet3\"",
         "--param", "reference_epochs=1", "--param", "max_epochs=10", "--param", "patience=5", "--param", "finetune_epochs=2",
         "--param", 'seed_params={"window": [2, 7], "surrogate_epochs": 2, "surrogate_batch": 64}']


def distill_cmd(dd_bin, out, *extra):
    return [dd_bin, "distill", "--method", "lgd", "--dataset", "digits", "--ipc", "3", "--seed", "1", "--out", str(out), *SMOKE, *extra]


def test_lgd_end_to_end_resumes_after_a_kill(dd_bin, tmp_path):
    # the reference and the resumed run in this process (no second start-up of torch and diffusers); the killed run in
    # its own, since only a process can be killed mid-write
    straight = dd(None, *distill_cmd(dd_bin, tmp_path / "straight")[1:])
    assert straight.returncode == 0, straight.stderr
    ref = DistilledSet.load(tmp_path / "straight")
    assert ref.images.shape == (30, 1, 16, 16) and torch.bincount(ref.labels).tolist() == [3] * 10
    assert ref.meta["method"] == "lgd" and [s["ipc"] for s in ref.meta["stages"]] == [1, 3]

    state = tmp_path / "run"
    cmd = distill_cmd(dd_bin, tmp_path / "resumed", "--param", f"resume={state}")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while not (state / "stage1.pt").exists() and p.poll() is None: time.sleep(0.02)   # killed after stage 1's first round
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert torch.load(state / "stage1.pt", weights_only=True)["done"] == 1, "the run was not cut inside stage 1"
    assert (state / "seed.safetensors").exists() and (state / "learner_0.safetensors").exists() and not (state / "learner_1.json").exists()
    again = dd(None, *cmd[1:])
    assert again.returncode == 0, again.stderr
    assert torch.equal(DistilledSet.load(tmp_path / "resumed").images, ref.images)

    red = dd(None, "redundancy", tmp_path / "straight", "--increments", "3", "--epochs", "20")   # in this process too
    assert red.returncode == 0, red.stderr
    assert "redundancy (mean off-diagonal)" in red.stdout


def test_lgd_bad_input_fails_before_work(dd_bin, tmp_path):
    bad_seed = tmp_path / "seed8px.safetensors"
    DistilledSet(torch.zeros(10, 1, 8, 8), torch.arange(10)).save(bad_seed)
    reachable = ["seed_ipc=1", "stage_ipc=1"]   # ipc 3 = 1 + 2 x 1, so only the bad value is wrong
    for params, msg in ((["lam=-1", *reachable], "lam=-1"), (["candidates=0", *reachable], "candidates=0"), (["w=-2", *reachable], "w=-2"),
                        (["seed_ipc=10", "stage_ipc=10"], "ipc=3 cannot be reached"),
                        ([f"seed_set=\"{bad_seed}\"", "seed_ipc=1", "stage_ipc=2"], "the dataset's are (1, 16, 16)")):
        out = dd(None, "distill", "--method", "lgd", "--ipc", "3", "--out", str(tmp_path / "x"),
                 *[a for p in params for a in ("--param", p)])   # in this process: a process start per case costs seconds
        assert out.returncode == 2 and msg in out.stderr, (params, out.stderr)
        assert not (tmp_path / "x").exists()

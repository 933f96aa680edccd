"Sharded generation (61_shard): 2 gloo processes under torchrun make the single process's set byte for byte; a rank that dies is resumed from its records."
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dd_nb.core import DistilledSet
from dd_nb.shard import record_path

ROOT = Path(__file__).resolve().parents[1]
WORKER = str(ROOT / "tests" / "shard_worker.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(cmd, timeout=240):
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return p


def _in_process(*args):
    "The worker as one plain process (world size 1), run in this one: no second start-up of torch and diffusers."
    import runpy
    argv, threads = sys.argv, torch.get_num_threads()
    sys.argv = [WORKER, *map(str, args)]
    torch.set_num_threads(1)                                         # as the torchrun ranks run (ENV)
    try: runpy.run_path(WORKER, run_name="__main__")
    finally: sys.argv, _ = argv, torch.set_num_threads(threads)


def _torchrun(*args, restarts=0):
    return _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "--max-restarts", str(restarts), "--monitor-interval", "0.2", WORKER, *map(str, args)])


def _calls(log_dir: Path) -> dict:
    "{(rank, attempt): [(class, index), ...]} of every generate_one call the workers logged."
    out = {}
    for f in sorted(log_dir.glob("r*_a*.txt")):
        r, a = f.stem[1:].split("_a")
        out[int(r), int(a)] = [tuple(map(int, line.split())) for line in f.read_text().splitlines()]
    return out


def _stats(out: Path) -> dict:
    return {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in (out / "records").glob("c*_i*.safetensors")}


def test_two_ranks_match_one_process_and_resume(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    # (a) one plain process (world size 1): the reference set
    _in_process(a, tmp_path / "logA")
    ref = DistilledSet.load(a / "set.safetensors")
    assert ref.images.shape == (20, 1, 16, 16) and ref.labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert json.loads((a / "map.json").read_text()) == [[k, 0] for k in range(6)]

    # (b) two gloo ranks; rank 1 (classes 1, 3, 5, 7, 9) dies making image (1, 1) and torchrun restarts the group once
    _torchrun(b, tmp_path / "logB", tmp_path / "marker", restarts=1)
    assert (tmp_path / "marker").exists(), "rank 1 never died: the restart path was not exercised"
    calls = _calls(tmp_path / "logB")
    assert calls[1, 0] == [(1, 0), (1, 1)]                       # died in its second image
    assert calls[1, 1] == [(1, 1)] + [(c, i) for c in (3, 5, 7, 9) for i in range(2)]   # (1, 0) was read back, not redone
    rank0 = calls[0, 0] + calls.get((0, 1), [])
    assert sorted(set(rank0)) == [(c, i) for c in (0, 2, 4, 6, 8) for i in range(2)]
    assert len(rank0) - len(set(rank0)) <= 1                      # at most the image rank 0 was killed in is redone
    assert (b / "set.safetensors").read_bytes() == (a / "set.safetensors").read_bytes()
    assert json.loads((b / "map.json").read_text()) == [[k, k % 2] for k in range(6)]   # sharded_map: round-robin, gathered
    got = DistilledSet.load(b / "set.safetensors")
    assert torch.equal(got.images, ref.images) and torch.equal(got.labels, ref.labels)

    # (c) a rank's later records lost (7, 1) and (9, 1): a rerun makes those two only, from the records before them, and
    # at another world size (one process: the records of both ranks are read, the gathered set is the same)
    before = _stats(b)
    for c in (7, 9): record_path(b, c, 1).unlink()
    (b / "set.safetensors").unlink()
    _in_process(b, tmp_path / "logC")
    assert _calls(tmp_path / "logC") == {(0, 0): [(7, 1), (9, 1)]}
    after = _stats(b)
    lost = {"c7_i1.safetensors", "c9_i1.safetensors"}
    assert {k: v for k, v in after.items() if k not in lost} == {k: v for k, v in before.items() if k not in lost}
    assert set(after) == set(before)
    assert (b / "set.safetensors").read_bytes() == (a / "set.safetensors").read_bytes()



class _Stop(Exception):
    "Raised by a stand-in to end a command once the call under test has been seen."


def test_main_passes_root_size_and_source_to_load_dataset(tmp_path, monkeypatch):
    "`python -m dd_nb.shard ... --root R --size S --source imagenet`: the parser takes them and load_dataset receives them."
    import pytest
    import dd_nb.shard as shard
    seen = []

    def fake_load(*args, **kw):
        seen.append((args, kw))
        raise _Stop

    monkeypatch.setattr(shard, "load_dataset", fake_load)
    argv = ["igd", "--dataset", "imagenette", "--root", str(tmp_path / "imagenet"), "--size", "64", "--source", "imagenet",
            "--ipc", "2", "--out", str(tmp_path / "out"), "--param", "steps=4"]
    with pytest.raises(_Stop):
        shard.main(argv)
    assert seen == [(("imagenette", "train"), {"root": str(tmp_path / "imagenet"), "size": 64, "source": "imagenet"})]
    seen.clear()
    with pytest.raises(_Stop):                                      # without them: the defaults, as before
        shard.main(["dit", "--ipc", "1", "--out", str(tmp_path / "out2")])
    assert seen == [(("digits", "train"), {"root": None, "size": None, "source": None})]
    seen.clear()
    for bad in (["--size", "big"], ["--source", "hub"]):
        with pytest.raises(SystemExit):                             # argparse rejects them before any work
            shard.main(["dit", "--ipc", "1", "--out", str(tmp_path / "out3"), *bad])
    assert not seen


def test_main_loads_an_imagenet_layout_tree(tmp_path, monkeypatch):
    "--root and --size reach a real load: an ImageNette tree under the real wnids arrives at 16 px with its class_map."
    import numpy as np
    import PIL.Image
    import pytest
    import dd_nb.shard as shard
    from dd_nb.data import CLASS_SPLITS
    for w in CLASS_SPLITS["imagenette"]:
        (tmp_path / "nette" / "train" / w).mkdir(parents=True)
        PIL.Image.fromarray(np.full((30, 40, 3), 7, np.uint8)).save(tmp_path / "nette" / "train" / w / "a.JPEG")
    got = []

    def fake_rank0_first(fn, method, ds, params, progress):   # the generator would load a backend: stop before it
        got.append(ds)
        raise _Stop

    monkeypatch.setattr(shard, "rank0_first", fake_rank0_first)
    with pytest.raises(_Stop):
        shard.main(["dit", "--dataset", "imagenette", "--root", str(tmp_path / "nette"), "--size", "16", "--ipc", "1",
                    "--out", str(tmp_path / "out")])
    (ds,) = got
    assert ds.images.shape == (10, 3, 16, 16) and ds.source == "unknown"
    assert ds.class_map == [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]


@pytest.mark.parametrize("argv, msg", [
    (["dit", "--ipc", "0", "--out", "OUT"], "argument --ipc: 0; valid: an integer >= 1"),
    (["igd", "--ipc", "1", "--out", "OUT", "--seed", str(2**64)], "argument --seed"),
    (["dit", "--ipc", "1", "--out", "FILE"], "is a file; valid: a folder"),
    (["dit", "--ipc", "1", "--out", "OUT", "--dataset", "mnist"], "known: digits"),
    (["igd", "--ipc", "1", "--out", "OUT", "--param", "k=-1"], "k=-1"),
    (["dit", "--ipc", "1", "--out", "OUT", "--param", "cfg"], "--param 'cfg'"),
])
def test_shard_entry_point_fails_like_dd(argv, msg, tmp_path, capsys, monkeypatch):
    "Issue 28, item 2: one `error:` line and exit 2, before any model trains (was: tracebacks, some after 12 s of training)."
    from dd_nb import shard
    import dd_nb.diffusion as diffusion_mod   # every method loads through BackendSpec.load, i.e. dd_nb.diffusion's load_backend
    monkeypatch.setattr(diffusion_mod, "load_backend", _never)
    (tmp_path/"file").write_text("x")
    argv = [str(tmp_path/"o") if a == "OUT" else str(tmp_path/"file") if a == "FILE" else a for a in argv]
    try: rc = shard.main(argv)
    except SystemExit as e: rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and "Traceback" not in err, err
    if "argument" not in msg: assert len(err.strip().splitlines()) == 1, err   # argparse adds its usage line
    assert not (tmp_path/"o").exists()


def _never(*a, **k):
    raise AssertionError("a backend was loaded before the arguments were checked")

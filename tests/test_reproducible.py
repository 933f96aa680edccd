"Reference models, herding sets and saved files depend on the caller's seed alone: two fresh processes, two empty caches."
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each process first draws a different amount from torch's global generator: the results must not depend on it.
SCRIPT = r"""
import sys, json, torch
from pathlib import Path
from safetensors.torch import save
from dd_nb.data import load_dataset
from dd_nb.train import reference_model
from dd_nb.methods import herding
out, noise = Path(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(noise); torch.rand(noise)
ds = load_dataset("digits").subset(torch.arange(400))   # tiny: the test is about bits, not accuracy
net = reference_model(ds, "convnet3", epochs=1, seed=3, progress=False)
(out/"weights.safetensors").write_bytes(save({k: v.contiguous() for k, v in net.state_dict().items()}))
s = herding(ds, 2, seed=3, feature_epochs=1)
(out/"indices.json").write_text(json.dumps(s.meta["indices"]))
s.save(out/"herding.safetensors")
"""


def _start(tmp: Path, name: str, noise: int):
    "A fresh process with its own empty cache (DD_NB_CACHE), one thread, its own hash seed; returns (process, out, cache)."
    out, cache = tmp/name, tmp/f"cache-{name}"
    out.mkdir()
    env = {**os.environ, "DD_NB_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": str(noise)}
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), str(noise)], cwd=tmp, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p, out, cache


def _finish(p, out: Path, cache: Path) -> Path:
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert list(cache.glob("ref_*.safetensors")), "the reference model was not cached where DD_NB_CACHE points"
    return out


def test_two_fresh_processes_build_identical_reference_models_and_herding_sets(tmp_path):
    runs = [_start(tmp_path, "a", 1), _start(tmp_path, "b", 7)]   # side by side: two cores, half the wait
    a, b = (_finish(*r) for r in runs)
    assert (a/"weights.safetensors").read_bytes() == (b/"weights.safetensors").read_bytes(), "reference weights differ"
    assert (a/"indices.json").read_text() == (b/"indices.json").read_text(), "herding chose other images"
    # the saved sets are equal files too (safetensors alone writes its header in a per-process hash order)
    assert (a/"herding.safetensors").read_bytes() == (b/"herding.safetensors").read_bytes()

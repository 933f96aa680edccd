"Caches go to one documented place: $DD_NB_CACHE, else $XDG_CACHE_HOME/dd_nb (~/.cache/dd_nb); never the working directory."
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

# One fresh process (its working directory an empty folder, umask 077) runs herding, which trains and caches a
# reference model, twice: first with DD_NB_CACHE unset, then with it set. It prints cache_dir() after each.
SCRIPT = r"""
import os, sys, torch
os.umask(0o077)
from dd_nb.data import load_dataset
from dd_nb.methods import herding
from dd_nb.core import cache_dir
ds = load_dataset("digits").subset(torch.arange(300))
herding(ds, 1, seed=0, feature_epochs=1); print(cache_dir())
os.environ["DD_NB_CACHE"] = sys.argv[1]
herding(ds, 1, seed=0, feature_epochs=1); print(cache_dir())
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "(tmp, cwd, [cache_dir without DD_NB_CACHE, cache_dir with it]) of one fresh process."
    tmp = tmp_path_factory.mktemp("cache"); cwd = tmp/"cwd"; cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DD_NB_CACHE"}
    env.update(OMP_NUM_THREADS="1", HOME=str(tmp/"home"), XDG_CACHE_HOME=str(tmp/"xdg"))
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp/"mine")], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, cwd, [Path(line) for line in r.stdout.strip().splitlines()[-2:]]


def _assert_cache_at(where: Path, printed: Path):
    assert printed == where
    files = [p for p in where.rglob("*") if p.is_file()]
    assert any(p.parent == where and p.name.startswith("ref_") for p in files), f"no reference model cached under {where}: {files}"
    for p in [where, *where.rglob("*")]:
        need = stat.S_IRGRP | (stat.S_IXGRP if p.is_dir() else 0)
        assert p.stat().st_mode & need == need, f"{p} is not group-readable ({oct(p.stat().st_mode)})"


def test_cache_location(run):
    "One test for the one process (under xdist a module fixture can be rebuilt per test: 14 s each)."
    tmp, cwd, printed = run
    assert list(cwd.iterdir()) == [], f"dd_nb wrote into the working directory: {list(cwd.iterdir())}"
    _assert_cache_at(tmp/"xdg"/"dd_nb", printed[0])          # the default: $XDG_CACHE_HOME/dd_nb
    assert not (tmp/"home").exists()
    _assert_cache_at(tmp/"mine", printed[1])                 # DD_NB_CACHE overrides the user cache

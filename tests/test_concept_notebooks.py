"""`nbdev_test` over the concept notebooks, inside the suite: one test that runs it in its own process (a notebook's cells
re-register methods and set globals, so they never run in a pytest worker), scheduled first (tests/conftest.py) so the
other worker runs the rest of the suite beside it instead of after it. The results notebooks are left out:
tests/test_notebooks.py runs each of them whole, every unit check included, under its smoke profile."""
import os, subprocess, sys
from pathlib import Path

from conftest import ROOT


def test_concept_notebooks_pass_nbdev_test():
    results = "|".join(sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml")))
    exe = Path(sys.executable).parent / "nbdev_test"
    out = subprocess.run([str(exe), "--n_workers", "1", "--timing", "--skip_file_re", rf"^[_.]|^({results})\.ipynb$"],
                         cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0 and "Success." in out.stdout, out.stdout[-3000:] + out.stderr[-6000:]
    assert "05_matching.ipynb" in out.stdout and "index.ipynb" in out.stdout    # the notebooks were found and timed

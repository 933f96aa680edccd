"""Every concept notebook's unit checks, as `nbdev_test` runs them (cells flagged with settings.ini's `tst_flags` skipped),
one test each, so they share the two pytest workers with the rest of the suite instead of running before it. The results
notebooks are left out: tests/test_notebooks.py runs each of them whole under its smoke profile."""
import os

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb

from conftest import ROOT

RESULTS = {p.stem for p in (ROOT / "experiments").glob("*.yaml")}
CONCEPT = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")) and p.stem not in RESULTS)


@pytest.mark.parametrize("notebook", CONCEPT)
def test_notebook_checks(notebook):
    env = dict(os.environ)
    try:
        ok, _ = test_nb(ROOT / "nbs" / notebook, skip_flags=get_config().tst_flags.split(), basepath=get_config().config_path)
    finally:                                       # a notebook that sets a variable leaves the next test as it found it
        os.environ.clear(); os.environ.update(env)
    assert ok, f"{notebook}: a check failed (its traceback is above)"

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")       # a hub lookup would otherwise retry for ~23 s before failing
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# the device every test that runs a model uses (dd_nb.core.default_device reads it): cpu unless set, so the same suite runs
# on a GPU with `DD_NB_DEVICE=cuda make test`
os.environ.setdefault("DD_NB_DEVICE", "cpu")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def dd_bin():
    "The `dd` console script of the environment running the tests."
    exe = Path(sys.executable).parent / "dd"
    assert exe.exists(), f"dd console script missing at {exe}: install the package with pip install -e ."
    return str(exe)
# the repository's own cache, as `make test` sets it (dd_nb's default is the user cache directory)
os.environ.setdefault("DD_NB_CACHE", str(ROOT / ".cache"))


def pytest_collection_modifyitems(config, items):
    "Under `pytest -n 2 --dist loadgroup`: each test file on one worker (its module fixtures shared)."
    # test_notebooks.py is left ungrouped: its smoke runs, one test per results notebook, are shared by the two workers
    for item in items:
        if item.path.name != "test_notebooks.py": item.add_marker(pytest.mark.xdist_group(item.path.name))
    # longest first, so the two workers end together: xdist hands the groups out in this order (the Makefile turns off
    # its reordering by test count) and a long group drawn last left one core idle for ~1 minute. nbdev_test over the
    # concept notebooks (one long test, its own process) leads, so the other worker runs the rest beside it
    items.sort(key=_cost_rank)


# the longest tests and test files, longest first (a clean clone's `make test`, 2 cores: 205 s down to ~45 s each); the
# rest keep their collection order after them. Only the order changes: a wrong guess costs time, never a result
SLOW_FIRST = ("test_concept_notebooks.py", "[11_iwd]", "[30_lgd]", "[22_igd]", "test_standin.py", "test_shard.py",
              "[40_patch]", "test_published_comparison.py", "test_patch.py", "[50_evaluation]", "test_igd.py", "test_lgd.py")


def _cost_rank(item):
    return next((i for i, key in enumerate(SLOW_FIRST) if key in item.nodeid), len(SLOW_FIRST))

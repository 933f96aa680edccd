"Declared method parameters: every kind of bad value fails in `distill` before any work, the registry needs no imports."
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from dd_nb.methods import METHOD_MODULES, check_params, distill, method_names, method_params, params_table

# (method, params, what the message must say). The dataset is a name that does not exist: a check made after loading
# the data would fail on the dataset instead, so every case also shows the check comes before any work.
BAD = [
    ("dm", {"iterations": 0}, "iterations=0: valid: an integer >= 1"),
    ("dc", {"iterations": -3}, "iterations=-3"),
    ("dm", {"iterations": 2.5}, "valid: an integer"),
    ("dm", {"batch_real": 0}, "batch_real=0"),
    ("pdd", {"base": "herding"}, "base='herding': valid: one of 'dc', 'dsa', 'dm', 'idc'"),
    ("influence-prune", {"base": "random"}, "base='random'"),
    ("influence-select", {"base": "nope"}, "base='nope'"),
    ("iwd-dm", {"tau": 0}, "tau=0: valid: a number > 0 (inf allowed)"),
    ("iwd-dc", {"tau": -1.0}, "tau=-1.0"),
    ("iwd-dc", {"tau": "hot"}, "tau='hot'"),
    ("iwd-dm", {"tau": math.nan}, "tau=nan"),
    ("iwd-dm", {"sign": 2}, "sign=2: valid: one of 1, -1"),
    ("iwd-dm", {"cap": 0.5}, "cap=0.5"),
    ("iwd-dm", {"normalize": "zscore"}, "normalize='zscore'"),
    ("idc", {"metric": "cosine"}, "metric='cosine'"),
    ("idc", {"factor": 0}, "factor=0"),
    ("dm", {"arch": "vgg"}, "arch='vgg'"),
    ("dm", {"lr_img": math.inf}, "lr_img=inf"),
    ("dm", {"progress": "yes"}, "progress='yes': valid: true or false"),
    ("herding", {"feature_epochs": 0}, "feature_epochs=0"),
    ("dit", {"steps": 0}, "steps=0"),
    ("igd", {"scheduler": "euler"}, "scheduler='euler'"),
    ("igd", {"k": -1}, "k=-1"),
    ("lgd", {"seed_method": "herding"}, "seed_method='herding'"),
    ("patch", {"layout": "grid"}, "layout='grid'"),
    ("influence-prune", {"keep": 1.5}, "keep=1.5"),
    ("dc", {"iters": 5}, "takes no parameter 'iters'; did you mean 'iterations'?"),
    ("iwd-pdd", {"base": "dm", "inner_loop": 1}, "takes no parameter 'inner_loop'"),   # idc's, not dm's
    ("random", {"tau": 3}, "takes no parameter 'tau'; its parameters: none"),
]


@pytest.mark.parametrize("method,params,msg", BAD, ids=[f"{m}-{'-'.join(p)}" for m, p, _ in BAD])
def test_bad_parameter_fails_before_work(method, params, msg):
    with pytest.raises((ValueError, TypeError)) as e: distill(method, "no-such-dataset", 1, **params)
    assert msg in str(e.value) and "no-such-dataset" not in str(e.value)


def test_directory_as_checkpoint_fails_before_work(tmp_path):
    with pytest.raises(ValueError, match="is a directory"): distill("dm", "no-such-dataset", 1, checkpoint=str(tmp_path))


@pytest.mark.parametrize("ipc,msg", [(0, "ipc=0"), (1.5, "ipc=1.5"), ("3", "ipc='3'"), (True, "ipc=True")])
def test_bad_ipc_fails_before_work(ipc, msg):
    with pytest.raises((ValueError, TypeError), match=msg): distill("random", "no-such-dataset", ipc)


def test_numpy_and_torch_integers_work():
    a, b = distill("random", "digits", np.int64(2), seed=np.int32(1)), distill("random", "digits", torch.tensor(2), seed=1)
    assert torch.equal(a.images, b.images) and type(a.meta["ipc"]) is int and a.meta["ipc"] == 2
    assert check_params("dm", {"iterations": np.int64(3), "lr_img": np.float32(0.5)}) == {"iterations": 3, "lr_img": 0.5}
    assert check_params("iwd-dm", {"tau": math.inf}) == {"tau": math.inf}


def test_registry_without_importing_dd_nb_all():
    code = ("from dd_nb.methods import distill, METHODS; assert 'dm' not in METHODS; "
            "print(distill('dm', 'digits', 1, iterations=1, batch_real=8, progress=False).meta['method'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "dm", out.stderr


def test_module_map_matches_registrations():
    import dd_nb.all  # noqa: F401
    from dd_nb.methods import METHODS
    assert sorted(METHODS) == method_names()
    assert {m: fn.__module__ for m, fn in METHODS.items()} == METHOD_MODULES


def test_every_parameter_declared_and_defaults_valid():
    "Names and defaults come from the signatures; each has a declaration, and each default passes its own check."
    for m in method_names():
        for p in method_params(m):
            assert "not declared" not in p.help, (m, p.name)
            p.check(p.default, m)


def test_declared_choices_match_the_code():
    from dd_nb import checkpoints, diffusion, iwd, matching, patch
    from dd_nb.models import NETWORKS
    choices = lambda m, name, given=None: next(p for p in method_params(m, given) if p.name == name).options()
    assert choices("pdd", "base") == matching.PDD_BASES
    assert choices("influence-prune", "base") == choices("influence-select", "base") == iwd.IWD_BASES
    assert choices("idc", "metric") == tuple(matching.IDC_DISTANCES)
    assert choices("igd", "scheduler") == tuple(diffusion.SAMPLERS) and choices("igd", "rule") == tuple(diffusion.STEP_RULES)
    assert set(choices("dit", "backend")) == set(diffusion.backend_names())
    assert choices("patch", "layout") == patch.PATCH_LAYOUTS and choices("patch", "scorer") == patch.SCORERS
    assert choices("patch", "features") == patch.FEATURES and choices("igd", "similarity") == checkpoints.SIMILARITIES
    assert choices("dm", "arch") == tuple(NETWORKS)


def test_parameter_listing_follows_the_wrapped_method():
    names = lambda m, given=None: [p.name for p in method_params(m, given)]
    assert names("dc")[:3] == ["iterations", "arch", "lr_img"] and "use_dsa" not in names("dc")
    assert "inner_loop" in names("pdd") and "inner_loop" not in names("pdd", {"base": "dm"})   # base decides
    assert "weight_fn" not in names("iwd-dm") and names("iwd-dm")[0] == "tau"                  # IWD fills weight_fn
    table = params_table("dc")
    assert "iterations" in table and "1000" in table and "an integer >= 1" in table

"""Fill the cells of 50_evaluation's published comparison in several processes before the notebook reads them.

    python scripts/fill_baselines.py --profile fashion --part 0 2 &   # one process per core, one thread each
    python scripts/fill_baselines.py --profile fashion --part 1 2 &
    dd reproduce --notebooks 50_evaluation --profile fashion          # reads the stored cells, writes the table

Every cell is stored by what it depends on (`ResultStore("baselines", dataset, version)`), so the processes share
nothing but the store and each one resumes where it stopped. Part 0 also trains the full-data reference curve, the
last part the protocol-check rows.
"""
import argparse
from dd_nb import __version__
from dd_nb.cli import load_profile
from dd_nb.data import load_dataset
from dd_nb.evaluation import baseline_cells, run_baseline_cells, full_data_curve
from dd_nb.results import ResultStore

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--profile", default="fashion"); ap.add_argument("--part", nargs=2, type=int, default=[0, 1], metavar=("I", "N"))
a = ap.parse_args()
p = load_profile("50_evaluation", a.profile)
if not p.get("compare_published"): raise SystemExit(f"profile {a.profile!r} of 50_evaluation has no published comparison")
i, n = a.part
train, test = load_dataset(p["dataset"], "train"), load_dataset(p["dataset"], "test")
store = ResultStore("baselines", p["dataset"], __version__)
kw = dict(arch=p.get("arch", "convnet3"), protocol=p["protocol"], runs=p["runs"], epochs=p["epochs"], eval_seed=p.get("seed", 0))
run_baseline_cells(store, train, test, baseline_cells(p["methods"], p["ipcs"], p["seeds"]), p.get("method_params", {}), part=(i, n), **kw)
if i == n - 1 and p.get("check_protocol"):
    run_baseline_cells(store, train, test, baseline_cells(["random"], p["ipcs"], p["seeds"][:1]), **kw, **p["check_protocol"])
if i == 0:
    store.memo("full_curve", [kw["arch"], kw["protocol"], p["full_epochs"], kw["eval_seed"]],
               lambda: full_data_curve((train, test), kw["arch"], kw["protocol"], p["full_epochs"], kw["eval_seed"]))

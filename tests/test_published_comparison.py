"""50_evaluation's comparison with the published tables (the `fashion` profile's path, hours there) run on digits in
seconds: each method under its own protocol, the budget curve, the tables and figures it writes, and a rerun that reads
every cell back from the store."""
import os

import nbformat
import pandas as pd
import papermill as pm

from conftest import ROOT

PARAMS = dict(dataset="digits", compare_published=True, protocol="dc", methods=["random", "dc", "dm"], ipcs=[1], seeds=[0, 1], runs=1,
              epochs=2, full_epochs=1, method_params={"dc": {"iterations": 1}, "dm": {"iterations": 2}},
              method_protocols={"dm": "dsa"}, check_protocol={"aug": "dsa"}, budget_curve={"dc": [1, 2]})


def _results_section(tmp_path):
    ("The notebook without its unit checks (the smoke run executes those): its exported and hidden set-up cells, then "
     "everything from the first Results heading on.")
    nb = nbformat.read(ROOT / "nbs" / "50_evaluation.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Results"))
    setup = [c for c in nb.cells[:start] if c.cell_type == "code" and c.source.startswith(("#| export", "#| hide"))]
    nb.cells = setup + nb.cells[start:]
    path = tmp_path / "50_evaluation_results.ipynb"
    nbformat.write(nb, path)
    return path


def _run(tmp_path, **extra):
    pm.execute_notebook(str(_results_section(tmp_path)), str(tmp_path / "run.ipynb"), cwd=str(ROOT / "nbs"),
                        parameters=dict(PARAMS, out=str(tmp_path / "results"), figs=str(tmp_path / "figures"), **extra),
                        kernel_name="python3", progress_bar=False)


def test_comparison_and_budget_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path / "cache")); monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _run(tmp_path)
    t = pd.read_csv(tmp_path / "results" / "published_digits.csv")
    rows = t.set_index("method")
    assert rows.loc["dm", "evaluation"].startswith("2 ep, dsa") and rows.loc["dc", "evaluation"].startswith("2 ep, dc")
    assert rows.loc["dc", "seeds"] == "2 of 2" and rows.loc["dc", "budget"] == "0.10%"      # 1 of DC's 1000 iterations
    b = pd.read_csv(tmp_path / "results" / "budget_curve_digits.csv")
    assert b[["method", "iterations", "budget", "seeds"]].values.tolist() == [["dc", 1, "0.10%", "2 of 2"], ["dc", 2, "0.20%", "2 of 2"]]
    assert b.loc[0, "ours"] == rows.loc["dc", "ours"]                # the main table's budget: the same stored cells
    assert (tmp_path / "figures" / "budget_curve_digits.png").stat().st_size > 1000
    stored = sorted(p.name for p in (tmp_path / "cache" / "baselines").rglob("*") if p.is_file())
    _run(tmp_path, fill=False)                                        # computes nothing: every cell is read back
    assert sorted(p.name for p in (tmp_path / "cache" / "baselines").rglob("*") if p.is_file()) == stored
    assert pd.read_csv(tmp_path / "results" / "budget_curve_digits.csv").equals(b)

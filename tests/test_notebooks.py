"""`dd reproduce --profile smoke` in the test suite: every results notebook runs on its smoke profile (one test each, so
the two pytest workers share them) and leaves its executed copy, an HTML page that parses and whose figures decode, and
a record; its tables land in results/runs/smoke/."""
import base64, io, json, shutil
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from dd_nb.cli import main
from dd_nb.reproduce import output_dirs, read_record, results_notebooks, run_dir
from conftest import ROOT


def _smoke(notebook):
    "`dd reproduce --profile smoke --force` over one results notebook (its own test, so two workers share the notebooks)."
    tables, figs = output_dirs("smoke", ROOT)
    for f in (run_dir("smoke", ROOT) / f"{notebook}.record.json", run_dir("smoke", ROOT) / f"{notebook}.ipynb"):
        f.unlink(missing_ok=True)                                   # the record checked below is written by this run
    rc = main(["reproduce", "--profile", "smoke", "--force", "--notebooks", notebook])
    return rc, tables, figs


class _Images(HTMLParser):
    "The src of every <img> in a page."
    def __init__(self): super().__init__(); self.srcs = []
    def handle_starttag(self, tag, attrs):
        if tag == "img": self.srcs.append(dict(attrs).get("src", ""))


@pytest.mark.parametrize("notebook", results_notebooks(ROOT))
def test_results_notebook_smoke(notebook, capsys):
    stores = {"11_iwd": "iwd_results", "20_diffusion": "generator", "22_igd": "igd_results", "30_lgd": "lgd_results",
              "40_patch": "patch_results"}
    if notebook in stores:     # its committed records are checked below: none left by an earlier run
        shutil.rmtree(output_dirs("smoke", ROOT)[0] / "store" / stores[notebook], ignore_errors=True)
    rc, tables, figs = _smoke(notebook)
    rec = read_record(notebook, "smoke", ROOT)
    assert rc == 0 and rec["status"] == "ok", f"cell {rec.get('cell')}: {rec.get('error')}"
    index = (ROOT / "results" / "index.html").read_text()
    HTMLParser().feed(index)
    assert f"runs/smoke/{notebook}.html" in index
    executed = run_dir("smoke", ROOT) / f"{notebook}.ipynb"
    pngs = sum("image/png" in o.get("data", {}) for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", []))
    page = _Images(); page.feed((run_dir("smoke", ROOT) / rec["html"]).read_text())
    data = [s for s in page.srcs if s.startswith("data:image/png;base64,")]
    assert len(data) >= pngs, f"{notebook}: {pngs} figures in the notebook, {len(data)} inline in its page"
    for s in data:                                                   # every embedded figure decodes as an image
        im = Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))); im.verify()
    assert rec["wall_s"] > 0 and rec["fingerprint"]["profile"] == "smoke"
    if notebook == "50_evaluation":
        assert "results/runs/smoke/baselines.csv" in rec["written"], rec["written"]   # this run's table, not an old one
        t = pd.read_csv(tables / "baselines.csv")
        assert list(t.columns) == ["method", "IPC 1", "LRS IPC 1", "ARS IPC 1", "IPC 10", "LRS IPC 10", "ARS IPC 10"]
        scores = t.loc[t.method != "full dataset", ["LRS IPC 1", "ARS IPC 1", "LRS IPC 10", "ARS IPC 10"]].astype(float)
        assert ((scores >= 0) & (scores <= 1)).all().all()          # DD-Ranking's scores live in [0, 1]
        assert t["method"].tolist() == ["random", "herding", "full dataset"]
        assert (figs / "baselines_samples.png").stat().st_size > 1000
    if notebook == "20_diffusion":
        assert {f"results/runs/smoke/{t}.csv" for t in ("tiny_dit_quality", "tiny_dit_diversity")} <= set(rec["written"])
        q = pd.read_csv(tables / "tiny_dit_quality.csv")
        assert {"cfg", "accuracy", "pairwise_ratio", "nn_ratio", "copies", "judge_recipe"} <= set(q.columns)
        d = pd.read_csv(tables / "tiny_dit_diversity.csv")
        assert sorted(d["cls"]) == list(range(10)) and d["nn_train_samples"].gt(0).all()
        c = pd.read_csv(tables / "dit_vs_random.csv")                 # the smoke profile compares at IPC 1, 2 seeds
        assert c["set"].tolist() == ["random", "DiT, CFG 2"] and (c["seeds"] == "2 of 2").all()
        assert c["- random, paired (95% CI)"].iloc[1].startswith(("+", "-", "0"))
        stored = [json.loads(f.read_text()) for f in (tables / "store" / "generator").glob("memo_cell_*.json")]
        assert sum(r["params"][:2] in (["random", 1], ["dit", 1]) for r in stored) >= 4   # records fill=False reads
    if notebook == "22_igd":                                         # what fill=False renders the tables from
        names = [f.name.split("_")[1] for f in (tables / "store" / "igd_results").glob("memo_*.json")]
        assert names.count("cell") >= 4 and {"full", "fig2", "fig3", "memory"} <= set(names), sorted(names)
        assert "eval" not in names, sorted(names)   # evaluations stay in the cache: each cell record holds its accuracies
        assert "alg2" in names, sorted(names)      # Alg. 2's delta sweep on the surrogate trajectory
        a2 = pd.read_csv(tables / "igd_alg2_thresholds.csv")
        assert a2["delta"].tolist() == [0.6, 0.7, 0.8] and ((a2.kept >= 1) & (a2.kept <= a2.checkpoints)).all(), a2
    if notebook == "11_iwd":                                         # what fill=False renders the tables from
        names = [f.name.split("_")[1] for f in (tables / "store" / "iwd_results").glob("memo_*.json")]
        assert names.count("cell") >= 8 and {"full", "mass", "auroc", "sensitivity", "ablation"} <= set(names), sorted(names)
    if notebook == "30_lgd":                                         # what fill=False renders the tables from
        names = [f.name.split("_")[1] for f in (tables / "store" / "lgd_results").glob("memo_*.json")]
        assert names.count("cell") == 7 and {"full", "learner", "redundancy", "difficulty"} <= set(names), sorted(names)
    if notebook == "40_patch":                                       # what fill=False renders the tables from
        names = {f.name.split("_")[1] for f in (tables / "store" / "patch_results").glob("memo_*.json")}
        assert {"table1", "herding", "table5", "table7", "fig6", "evidence"} <= names, sorted(names)
        h = pd.read_csv(tables / "patch_herding.csv")                # ours single against herding, paired by seed
        assert h["single - herding (95% CI)"].str.match(r"^[+-]?\d|^0 ").all(), h
    if notebook in ("10_influence", "50_evaluation"):   # right after its run nothing changed: a second reproduce skips it
        capsys.readouterr()
        assert main(["reproduce", "--profile", "smoke", "--notebooks", notebook]) == 0
        out = capsys.readouterr().out
        assert out.count("fresh, skipped") == 1, out


@pytest.mark.parametrize("notebook", results_notebooks(ROOT))
def test_parameters_seen_by_papermill(notebook):
    "papermill infers every line of the parameters cell, and every profile sets only those (a typo would be ignored)."
    import re, nbformat, papermill, yaml
    path = ROOT / "nbs" / f"{notebook}.ipynb"
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    declared = [m.group(1) for line in cell.source.splitlines() if (m := re.match(r"(\w+)\s*:", line))]
    assert list(papermill.inspect_notebook(str(path))) == declared     # else --help-notebook hides it and papermill warns
    profiles = yaml.safe_load((ROOT / "experiments" / f"{notebook}.yaml").read_text())
    unknown = {p: sorted(set(v or {}) - set(declared)) for p, v in profiles.items() if set(v or {}) - set(declared)}
    assert not unknown, unknown

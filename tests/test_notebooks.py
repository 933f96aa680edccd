"Papermill smoke runs: every results notebook (one with experiments/<name>.yaml) runs on its smoke profile."
import pandas as pd
import pytest

from dd_nb.cli import results_notebooks, run_notebook
from conftest import ROOT


@pytest.mark.parametrize("notebook", results_notebooks(ROOT))
def test_results_notebook_smoke(notebook, tmp_path):
    out = run_notebook(notebook, "smoke", ROOT, extra={"out": str(tmp_path / "results"), "figs": str(tmp_path / "figures")})
    assert out.exists()
    written = list((tmp_path / "results").glob("*.csv")) + list((tmp_path / "figures").glob("*.png"))
    assert written, f"{notebook} wrote no table or figure"
    if notebook == "50_evaluation":
        t = pd.read_csv(tmp_path / "results" / "baselines.csv")
        assert list(t.columns) == ["method", "IPC 1", "LRS IPC 1", "ARS IPC 1", "IPC 10", "LRS IPC 10", "ARS IPC 10"]
        scores = t.loc[t.method != "full dataset", ["LRS IPC 1", "ARS IPC 1", "LRS IPC 10", "ARS IPC 10"]].astype(float)
        assert ((scores >= 0) & (scores <= 1)).all().all()          # DD-Ranking's scores live in [0, 1]
        assert t["method"].tolist() == ["random", "herding", "full dataset"]
        assert (tmp_path / "figures" / "baselines_samples.png").stat().st_size > 1000
    if notebook == "20_diffusion":
        q = pd.read_csv(tmp_path / "results" / "tiny_dit_quality.csv")
        assert {"cfg", "accuracy", "pairwise_ratio", "nn_ratio", "copies"} <= set(q.columns)
        d = pd.read_csv(tmp_path / "results" / "tiny_dit_diversity.csv")
        assert sorted(d["cls"]) == list(range(10)) and d["nn_train_samples"].gt(0).all()

"""50_evaluation's side-by-side with the released DC code, run end to end on a stand-in of that code's interface (its
main.py arguments and result file, utils.py's evaluate_synset): what dd_nb passes, reads back and stores. The real
comparison needs a local copy of VICO-UoE/DatasetCondensation (the `side` profile)."""
import json, textwrap

import pytest
import torch

from dd_nb.data import fashion_mnist_files
from dd_nb.evaluation import side_by_side_cell, check_authors_dir
from dd_nb.results import ResultStore


def _absent():
    try: fashion_mnist_files(); return False
    except FileNotFoundError: return True


MAIN = '''
import argparse, json, os, torch
ap = argparse.ArgumentParser()
for k in ("method", "dataset", "init", "data_path", "save_path", "dsa_strategy"): ap.add_argument("--" + k, default="")
for k in ("ipc", "Iteration", "num_exp", "num_eval"): ap.add_argument("--" + k, type=int)
a = ap.parse_args()
assert os.path.isfile(os.path.join(a.data_path, "FashionMNIST", "raw", "t10k-images-idx3-ubyte"))   # torchvision's layout
print("ARGS " + json.dumps(vars(a)))
x = torch.full((10 * a.ipc, 1, 28, 28), -3.0); x[:, :, 10:18, 10:18] = 1.0      # standardised: -3 is below 0 in pixels
y = torch.arange(10).repeat_interleave(a.ipc)
torch.save({"data": [[x, y]], "accs_all_exps": {}}, os.path.join(a.save_path, f"res_{a.method}_{a.dataset}_ConvNet_{a.ipc}ipc.pt"))
print("fake run done")
'''
UTILS = '''
import torch
SEEN = []
class TensorDataset(torch.utils.data.TensorDataset): pass
class ParamDiffAug: pass
def get_daparam(dataset, model, model_eval, ipc): return {"strategy": "none", "dataset": dataset}
def get_network(model, channel, num_classes, im_size): return torch.nn.Linear(1, num_classes)
def evaluate_synset(it, net, x, y, testloader, args):
    print("released evaluation", it)                   # its prints must not reach the notebook
    return net, 1.0, 0.25 + 0.01 * it + (0.1 if args.dsa else 0) + 0.001 * args.epoch_eval_train
'''


@pytest.mark.skipif(_absent(), reason="Fashion-MNIST absent (make install adds it where apt-get may)")
def test_side_by_side_cell_runs_and_stores(tmp_path, monkeypatch):
    from dd_nb.data import load_dataset
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path / "cache"))
    authors = tmp_path / "released"; authors.mkdir()
    (authors / "main.py").write_text(textwrap.dedent(MAIN)); (authors / "main_DM.py").write_text(textwrap.dedent(MAIN))
    (authors / "utils.py").write_text(textwrap.dedent(UTILS)); (authors / "networks.py").write_text("")
    assert check_authors_dir(authors) == authors
    train, test = load_dataset("fashion-mnist").first_per_class(20), load_dataset("fashion-mnist", "test").first_per_class(10)
    store = ResultStore("side_by_side", "fashion-mnist", "test")
    got = side_by_side_cell(store, train, test, authors, "authors", "dc", 0, iterations=3, runs=2, epochs=2)
    run_dir = store.path / "authors_dc_ipc1_it3_s0"
    log = (run_dir / "log.txt").read_text()
    args = json.loads(next(line for line in log.splitlines() if line.startswith("ARGS "))[5:])
    # `iterations` image updates: the released loop runs Iteration + 1 passes; real initialisation, one experiment
    assert (args["Iteration"], args["init"], args["method"], args["dataset"], args["ipc"], args["num_exp"]) == (2, "real", "DC", "FashionMNIST", 1, 1)
    assert "fake run done" in log and list(store.path.glob(".run_*")) == []          # its output kept, its scratch folder gone
    assert got["authors"] == [pytest.approx(0.252), pytest.approx(0.262)]           # run r of evaluate_synset, 2 epochs, no DSA
    assert len(got["dd_nb"]) == 2 and all(0 <= a <= 1 for a in got["dd_nb"])
    assert got["clipped"] == pytest.approx(1 - 64 / 784)                             # every pixel outside the 8 x 8 square
    again = side_by_side_cell(store, train, test, authors, "authors", "dc", 0, iterations=3, runs=2, epochs=2, compute=False)
    assert again == got                                                              # stored: read back, nothing run
    ours = side_by_side_cell(store, train, test, authors, "dd_nb", "dsa", 0, iterations=1, runs=1, epochs=2)
    assert ours["authors"] == [pytest.approx(0.352)] and 0 <= ours["clipped"] < 1   # DSA's evaluation for a DSA set
    import sys
    assert "utils" not in sys.modules and str(authors.resolve()) not in sys.path     # the released modules were only borrowed

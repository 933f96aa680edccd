"""End-to-end checks of the `dd` command line: the console script once, then `dd_nb.cli.main` in this process (a process
start per case cost 4 s each, about a minute of the suite)."""
import contextlib, io, json, subprocess, sys
from pathlib import Path
from types import SimpleNamespace

import torch

from dd_nb.core import DistilledSet


def dd(dd_bin, *args):
    "`dd ARGS` in this process, as the console script runs it: returncode, stdout and stderr."
    from dd_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in args])
        except SystemExit as e: rc = e.code          # argparse's own errors and --help
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def test_help_lists_methods_and_datasets(dd_bin):
    out = subprocess.run([dd_bin, "--help"], capture_output=True, text=True, timeout=300)   # the console script itself
    assert out.returncode == 0
    for name in ("random", "herding", "digits", "cifar10", "folder:<path>", "convnet3"):
        assert name in out.stdout
    assert "herding" in dd(dd_bin, "distill", "--help").stdout


def test_distill_then_evaluate(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "digits", "--ipc", 2, "--seed", 3, "--out", tmp_path / "r2")
    assert out.returncode == 0, out.stderr
    ds = DistilledSet.load(tmp_path / "r2")
    assert ds.images.shape == (20, 1, 16, 16) and ds.meta["method"] == "random" and ds.meta["seed"] == 3
    assert torch.bincount(ds.labels).tolist() == [2] * 10
    # the same seed gives the same set
    dd(dd_bin, "distill", "--method", "random", "--ipc", 2, "--seed", 3, "--out", tmp_path / "again")
    assert torch.equal(DistilledSet.load(tmp_path / "again").images, ds.images)
    ev = dd(dd_bin, "evaluate", tmp_path / "r2", "--runs", 2, "--epochs", 5)
    assert ev.returncode == 0, ev.stderr
    assert "2 runs" in ev.stdout and "±" in ev.stdout


def test_method_params_are_passed(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 1, "--out", tmp_path / "x", "--param", "tau=3")
    assert out.returncode == 2 and "takes no parameter" in out.stderr


def test_bad_inputs_fail_clearly(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "magic", "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "known:" in out.stderr and "herding" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "mnist", "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "known: digits" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 1000, "--out", tmp_path / "m")
    assert out.returncode == 2 and "ipc=1000" in out.stderr and "139" in out.stderr
    out = dd(dd_bin, "distill", "--method", "random", "--dataset", "cifar10", "--root", tmp_path, "--ipc", 1, "--out", tmp_path / "m")
    assert out.returncode == 2 and "cifar-10-batches-py" in out.stderr
    assert not (tmp_path / "m").exists()          # nothing half-written
    (tmp_path / "bad").mkdir(); (tmp_path / "bad" / "distilled.safetensors").write_bytes(b"\x00" * 40)
    out = dd(dd_bin, "evaluate", tmp_path / "bad")
    assert out.returncode == 2 and "not a readable DistilledSet" in out.stderr
    out = dd(dd_bin, "evaluate", tmp_path / "nothing-here")
    assert out.returncode == 2 and "no distilled set" in out.stderr


def test_iwd_methods_from_the_command_line(dd_bin, tmp_path):
    "Every IWD variant and its base run from `dd distill`; IDC stores 1 image per class and trains on its 4 decoded ones."
    small = ["--param", "iterations=1", "--param", "batch_real=16"]
    for method, extra in (("iwd-dc", []), ("iwd-dm", ["--param", "tau=0.1", "--param", "refresh=2"]),
                          ("idc", ["--param", "inner_loop=1"]), ("iwd-idc", ["--param", "inner_loop=1"]),
                          ("iwd-pdd", ["--param", "base=dm", "--param", "stage_epochs=1"]),
                          ("influence-select", ["--param", "nets=1"])):
        ipc = 2 if method == "iwd-pdd" else 1
        params = extra if method == "influence-select" else small + extra
        out = dd(dd_bin, "distill", "--method", method, "--ipc", ipc, "--out", tmp_path / method, *params)
        assert out.returncode == 0, (method, out.stderr)
        ds = DistilledSet.load(tmp_path / method)
        assert ds.meta["method"] == method
        per_class = 4 if "idc" in method else ipc
        assert torch.bincount(ds.labels).tolist() == [per_class] * 10, method


def test_iwd_bad_inputs(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "iwd-dc", "--ipc", 1, "--out", tmp_path / "t", "--param", "tau=0")
    assert out.returncode == 2 and "tau=0" in out.stderr and "a number > 0" in out.stderr
    out = dd(dd_bin, "distill", "--method", "iwd-dm", "--ipc", 200, "--out", tmp_path / "t")
    assert out.returncode == 2 and "ipc=200" in out.stderr
    out = dd(dd_bin, "distill", "--method", "pdd", "--ipc", 2, "--out", tmp_path / "t", "--param", "base=herding")
    assert out.returncode == 2 and "base='herding': valid: one of" in out.stderr
    out = dd(dd_bin, "distill", "--method", "iwd-dm", "--ipc", 1, "--out", tmp_path / "t", "--param", "refresh=0")
    assert out.returncode == 2 and "refresh=0" in out.stderr
    assert not (tmp_path / "t").exists()


def test_redundancy_command(dd_bin, tmp_path):
    out = dd(dd_bin, "distill", "--method", "random", "--ipc", 4, "--out", tmp_path / "r4")
    assert out.returncode == 0, out.stderr
    red = dd(dd_bin, "redundancy", tmp_path / "r4", "--increments", 2, "--epochs", 20)
    assert red.returncode == 0, red.stderr
    assert "redundancy (mean off-diagonal)" in red.stdout and (tmp_path / "r4" / "distilled_redundancy.png").stat().st_size > 1000
    bad = dd(dd_bin, "redundancy", tmp_path / "r4", "--increments", 5)
    assert bad.returncode == 2 and "only 4 images" in bad.stderr


# ---- in-process checks of `dd` (no process start per case): expected failures, parameter help, Ctrl-C ----
import math

import pytest

from dd_nb import cli, reproduce


def run_dd(capsys, *argv):
    "`dd ARGV` in this process: (exit status, stdout, stderr)."
    r = dd(None, *argv); return r.returncode, r.stdout, r.stderr


def test_methods_listing_and_parameter_help(capsys):
    rc, out, _ = run_dd(capsys, "methods")
    assert rc == 0 and all(any(line.startswith(m + " ") for line in out.splitlines()) for m in ("dc", "iwd-pdd", "random"))
    rc, out, _ = run_dd(capsys, "methods", "dc")
    assert rc == 0 and "iterations" in out and "int" in out and "1000" in out and "outer iterations" in out
    rc, out, _ = run_dd(capsys, "distill", "--method", "dc", "--help")
    assert rc == 0 and "parameters of dc" in out and "batch_real" in out


def test_param_tau_inf(capsys, tmp_path):
    rc, out, err = run_dd(capsys, "distill", "--method", "iwd-dm", "--ipc", 1, "--out", tmp_path / "t", "--param", "tau=inf",
                          "--param", "iterations=1", "--param", "batch_real=8", "--param", "progress=false")
    assert rc == 0, err
    assert math.isinf(DistilledSet.load(tmp_path / "t").meta["tau"])


def _bad_set(tmp_path, kind):
    "A path to a set that `dd evaluate` must refuse."
    if kind == "negative label":
        # DistilledSet refuses negative labels when built, so the file is written as another tool might write it
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file
        DistilledSet(torch.rand(2, 1, 16, 16), torch.tensor([0, 1]), meta={"dataset": "digits"}).save(tmp_path / "neg")
        f = tmp_path / "neg" / "distilled.safetensors"
        with safe_open(str(f), "pt") as h: header = h.metadata()
        save_file({**load_file(str(f)), "labels": torch.tensor([0, -1])}, str(f), metadata=header); return tmp_path / "neg"
    if kind == "corrupt":
        (tmp_path / "c").mkdir(); (tmp_path / "c" / "distilled.safetensors").write_bytes(b"\x07" * 64); return tmp_path / "c"
    (tmp_path / "d.safetensors").mkdir(); return tmp_path / "d.safetensors"          # a directory where a file belongs


CASES = {   # name: (argv with {tmp} for the test's folder, what the one error line must say)
    "existing file as --out": (["distill", "--method", "random", "--ipc", 1, "--out", "{tmp}/file"], "is an existing file"),
    "unwritable --out": (["distill", "--method", "random", "--ipc", 1, "--out", "/proc/dd-out"], "cannot write"),
    "--out below a file": (["distill", "--method", "random", "--ipc", 1, "--out", "{tmp}/file/x"], "is a file"),
    "unknown method": (["distill", "--method", "magic", "--ipc", 1, "--out", "{tmp}/o"], "known: dc"),
    "unknown dataset": (["distill", "--method", "random", "--dataset", "mnist", "--ipc", 1, "--out", "{tmp}/o"], "known: digits"),
    "unknown param": (["distill", "--method", "dc", "--ipc", 1, "--out", "{tmp}/o", "--param", "iters=3"], "did you mean 'iterations'"),
    "param without =": (["distill", "--method", "dc", "--ipc", 1, "--out", "{tmp}/o", "--param", "iterations"], "KEY=VALUE"),
    "param twice": (["distill", "--method", "dc", "--ipc", 1, "--out", "{tmp}/o", "--param", "iterations=1", "--param", "iterations=2"], "twice"),
    "iterations 0": (["distill", "--method", "dm", "--ipc", 1, "--out", "{tmp}/o", "--param", "iterations=0"], "iterations=0"),
    "unknown base": (["distill", "--method", "pdd", "--ipc", 1, "--out", "{tmp}/o", "--param", "base=dcc"], "base='dcc'"),
    "directory checkpoint": (["distill", "--method", "dm", "--ipc", 1, "--out", "{tmp}/o", "--param", "checkpoint={tmp}"], "is a directory"),
    "corrupt checkpoint": (["distill", "--method", "dm", "--ipc", 1, "--out", "{tmp}/o", "--param", "checkpoint={tmp}/file"], "cannot be read"),
    "unknown method in dd methods": (["methods", "magic"], "unknown method 'magic'"),
    "negative label": (["evaluate", "{negative label}", "--epochs", 1, "--runs", 1], "negative"),
    "corrupt set": (["evaluate", "{corrupt}"], "not a readable DistilledSet"),
    "directory as set": (["evaluate", "{directory}"], "not a readable DistilledSet"),
    "unknown arch": (["evaluate", "{tmp}", "--arch", "vgg"], "unknown --arch 'vgg'"),
    "unknown protocol": (["evaluate", "{tmp}", "--protocol", "fast"], "unknown --protocol 'fast'"),
    "epochs 0": (["evaluate", "{tmp}", "--epochs", 0], "argument --epochs: 0; valid: an integer >= 1"),
    "negative runs": (["evaluate", "{tmp}", "--runs", -1], "argument --runs: -1; valid: an integer >= 1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_expected_failure_is_one_line_exit_2(case, capsys, tmp_path):
    argv, msg = CASES[case]
    (tmp_path / "file").write_text("not a checkpoint")
    subs = {"{tmp}": str(tmp_path), **{f"{{{k}}}": None for k in ("negative label", "corrupt", "directory")}}
    args = []
    for a in map(str, argv):
        for k, v in subs.items():
            if k in a: a = a.replace(k, v if v is not None else str(_bad_set(tmp_path, k[1:-1])))
        args.append(a)
    rc, _, err = run_dd(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("dd: error: ") and msg in err, (rc, err)
    assert not (tmp_path / "o").exists()                  # nothing written


def test_ctrl_c_says_how_to_resume(capsys, tmp_path, monkeypatch):
    import dd_nb.methods
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(dd_nb.methods, "distill", interrupted)
    rc, _, err = run_dd(capsys, "distill", "--method", "dm", "--ipc", 1, "--out", tmp_path / "o", "--param", f"checkpoint={tmp_path}/ck.pt")
    assert rc == 130 and err.count("\n") == 1 and "interrupted" in err and f"checkpoint={tmp_path}/ck.pt" in err
    rc, _, err = run_dd(capsys, "distill", "--method", "dm", "--ipc", 1, "--out", tmp_path / "o")
    assert rc == 130 and "--param checkpoint=PATH" in err


def test_reproduce_writes_only_under_runs(tmp_path, capfd):
    "A non-published profile writes its tables under results/runs/<profile>/, and the kernel's noise stays out of the log."
    import json
    (tmp_path / "nbs").mkdir(); (tmp_path / "experiments").mkdir(); (tmp_path / "experiments" / "tiny.yaml").write_text("smoke: {}\n")
    cell = lambda src, tags=(): {"cell_type": "code", "execution_count": None, "id": f"c{len(src)}", "metadata": {"tags": list(tags)},
                                 "outputs": [], "source": src}
    nb = {"cells": [cell('out = "../results"\nfigs = "../figures"', ["parameters"]),
                    cell("from pathlib import Path\nimport warnings\nwarnings.warn('`torch.jit.script` is deprecated. x', FutureWarning)\n"
                         "Path(out).mkdir(parents=True, exist_ok=True); (Path(out)/'t.csv').write_text('a\\n1\\n')")],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nbs" / "tiny.ipynb").write_text(json.dumps(nb))
    ran = reproduce.run_notebook("tiny", "smoke", tmp_path, log_output=True)
    assert (tmp_path / "results" / "runs" / "smoke" / "t.csv").exists() and not (tmp_path / "results" / "t.csv").exists()
    log = capfd.readouterr()
    outputs = json.dumps([c["outputs"] for c in json.loads(ran.read_text())["cells"]])
    assert "without encryption" not in log.err + log.out and "jit.script" not in outputs


def _paper_project(root, blocks):
    "A throw-away project whose experiments/<notebook>.yaml hold the given paper-profile blocks."
    import yaml
    (root / "nbs").mkdir(exist_ok=True)
    (root / "experiments").mkdir(exist_ok=True)
    for nb, block in blocks.items():
        (root / "nbs" / f"{nb}.ipynb").write_text("{}")
        (root / "experiments" / f"{nb}.yaml").write_text(yaml.safe_dump({"paper": block, "standin": {}}))
    return root


def _touch(root, *names):
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_text("{}")


def test_reproduce_paper_checks_what_a_dit_folder_holds(tmp_path, monkeypatch):
    "A DiTPipeline folder needs model_index.json and config + weights in transformer/ and vae/; the log names the VAE."
    from dd_nb.reproduce import input_notes, missing_inputs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    root = _paper_project(tmp_path, {"22_igd": dict(backend="dit", pretrained="../weights/DiT-XL-2-256")})
    _touch(root / "weights" / "DiT-XL-2-256", "transformer/config.json", "vae/config.json")
    (m,) = missing_inputs("22_igd", "paper", root)
    for part in ("model_index.json", "transformer/ weights", "vae/ weights"):
        assert part in m, m
    assert "transformer/config.json" not in m and "DiTPipeline" in m
    _touch(root / "weights" / "DiT-XL-2-256", "model_index.json", "transformer/diffusion_pytorch_model.safetensors",
           "vae/diffusion_pytorch_model.safetensors")
    assert missing_inputs("22_igd", "paper", root) == []
    (note,) = input_notes("22_igd", "paper", root)
    assert "sd-vae-ft-ema" in note and "sd-vae-ft-mse" in note and "backend_kw" in note


def test_reproduce_paper_says_the_pt_route_needs_a_vae(tmp_path, monkeypatch):
    "An original DiT .pt holds the transformer only: the check asks for a VAE folder (sd-vae-ft-mse, backend_kw vae)."
    from dd_nb.reproduce import input_notes, missing_inputs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    pt = dict(backend="dit", checkpoint="../weights/DiT-XL-2-256x256.pt")
    root = _paper_project(tmp_path, {"22_igd": pt})
    m = missing_inputs("22_igd", "paper", root)
    assert len(m) == 2 and "no file at" in m[0] and "DiT-XL-2-256x256.pt" in m[0], m
    assert "sd-vae-ft-mse" in m[1] and "backend_kw" in m[1] and "{vae: <folder>}" in m[1], m
    _touch(root / "weights", "DiT-XL-2-256x256.pt", "sd-vae-ft-mse/config.json")
    _paper_project(tmp_path, {"22_igd": dict(pt, backend_kw={"vae": "../weights/sd-vae-ft-mse"})})
    (m,) = missing_inputs("22_igd", "paper", root)
    assert m.startswith("VAE at") and "sd-vae-ft-mse/ weights" in m and "config.json" not in m.split("missing")[1], m
    _touch(root / "weights", "sd-vae-ft-mse/diffusion_pytorch_model.safetensors")
    assert missing_inputs("22_igd", "paper", root) == []
    assert input_notes("22_igd", "paper", root) == [f"VAE: {(root / 'weights' / 'sd-vae-ft-mse').resolve()} (backend_kw vae)"]


def test_reproduce_paper_checks_a_stable_diffusion_folder(tmp_path, monkeypatch):
    "A StableDiffusionPipeline folder also needs its text encoder, tokenizer files and scheduler config."
    from dd_nb.reproduce import missing_inputs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    root = _paper_project(tmp_path, {"40_patch": dict(backend="sd", pretrained="../weights/sd15")})
    w = "weights/sd15/"
    _touch(root, *(w + f for f in ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                                    "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json")))
    (m,) = missing_inputs("40_patch", "paper", root)
    for part in ("text_encoder/ weights", "tokenizer/tokenizer.json or tokenizer/vocab.json+merges.txt",
                 "scheduler/scheduler_config.json"):
        assert part in m, m
    assert "unet" not in m and "StableDiffusionPipeline" in m
    _touch(root, *(w + f for f in ("text_encoder/model.safetensors", "tokenizer/vocab.json", "scheduler/scheduler_config.json")))
    (m,) = missing_inputs("40_patch", "paper", root)      # vocab.json without merges.txt is no tokenizer
    assert "tokenizer/" in m and "text_encoder" not in m, m
    _touch(root, w + "tokenizer/merges.txt")
    assert missing_inputs("40_patch", "paper", root) == []
    (root / w / "tokenizer" / "merges.txt").unlink()
    _touch(root, w + "tokenizer/tokenizer.json")          # what newer transformers save instead
    assert missing_inputs("40_patch", "paper", root) == []


def test_reproduce_paper_needs_a_gpu_only_where_the_notebook_uses_one(tmp_path, monkeypatch):
    "Without CUDA the paper profiles of GPU notebooks list a GPU (saying why); 50_evaluation and stand-ins do not."
    from dd_nb.reproduce import missing_inputs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    root = _paper_project(tmp_path, {"40_patch": {}, "10_influence": {}, "50_evaluation": {}})
    (m,) = missing_inputs("40_patch", "paper", root)
    assert m.startswith("a CUDA GPU (Stable Diffusion"), m
    assert missing_inputs("10_influence", "paper", root)[0].startswith("a CUDA GPU (float64")
    assert missing_inputs("50_evaluation", "paper", root) == []
    assert missing_inputs("40_patch", "standin", root) == []


def test_reproduce_paper_names_the_dataset_release(tmp_path, monkeypatch):
    "ImageNette read from an ImageNet tree (more class folders) or from a tree of its 10 classes (fast.ai's imagenette2)."
    from dd_nb.reproduce import input_notes, missing_inputs
    from dd_nb.data import CLASS_SPLITS
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    root = _paper_project(tmp_path, {"40_patch": dict(dataset="imagenette", root="../data/imagenet", size=64)})
    m = missing_inputs("40_patch", "paper", root)
    assert len(m) == 1 and "dataset 'imagenette'" in m[0] and "release:" in m[0] and "imagenette2" in m[0], m
    for w in ["n09999999", *CLASS_SPLITS["imagenette"]]:
        (root / "data" / "imagenet" / "train" / w).mkdir(parents=True)
    assert "ImageNet ILSVRC-2012's 10 imagenette classes" in input_notes("40_patch", "paper", root)[0]
    (root / "data" / "imagenet" / "train" / "n09999999").rmdir()
    assert "fast.ai's imagenette2" in input_notes("40_patch", "paper", root)[0]


def test_paper_variant_profiles_are_known():
    "40_patch's ImageWoof block, 22_igd's authors'-code block and the stand-ins are profiles `dd reproduce` accepts."
    from dd_nb.reproduce import PROFILES, load_profile
    assert {"paper-imagewoof", "paper-code", "standin"} <= set(PROFILES)
    assert load_profile("40_patch", "paper-imagewoof")["dataset"] == "imagewoof"


@pytest.mark.parametrize("argv, msg", [
    (["distill", "--method", "random", "--ipc", 1, "--out", "OUT", "--seed", 2**64], "argument --seed: 18446744073709551616; valid: an integer from 0 to 9223372036854775807"),
    (["distill", "--method", "random", "--ipc", 1, "--out", "OUT", "--seed", -1], "argument --seed: -1; valid"),
    (["evaluate", "OUT", "--seed", "x"], "argument --seed: 'x' is not an integer"),
    (["redundancy", "OUT", "--increments", 0], "argument --increments: 0; valid: an integer >= 2"),
    (["reproduce", "--profile", "smoke", "--notebooks"], "argument --notebooks: expected at least one argument"),
    (["reproduce", "--profile", "smoke", "--times", "TMP"], "is a folder; give a file path"),
    (["reproduce", "--profile", "smoke", "--notebooks", "50_evaluation", "--param", "fil=false"], "50_evaluation has no parameter 'fil'"),
    (["reproduce", "--profile", "smoke", "--param", "fill"], "--param 'fill': valid: KEY=VALUE"),
    # over several notebooks a parameter goes to those that declare it; one that none declares is refused
    (["reproduce", "--profile", "smoke", "--notebooks", "50_evaluation", "70_verdict", "--param", "fil=false"],
     "no notebook of this run has parameter 'fil'"),
])
def test_arguments_checked_before_work(capsys, tmp_path, argv, msg):
    "Issue 28, item 3: each fails at once with one error line naming the flag and the valid values (was: late or a traceback)."
    argv = [str(tmp_path/"o") if a == "OUT" else str(tmp_path) if a == "TMP" else a for a in argv]
    rc, out, err = run_dd(capsys, *argv)
    assert rc == 2 and msg in err, err
    assert not (tmp_path/"o").exists()


def test_wrong_data_is_refused_not_trained_on(capsys, tmp_path):
    "Issue 28, item 1: empty --out, a --figure folder, a float window; each refused before any work."
    rc, _, err = run_dd(capsys, "distill", "--method", "random", "--ipc", 1, "--out", "")
    assert rc == 2 and "--out is empty" in err and not (Path.cwd()/"distilled.safetensors").exists()
    assert run_dd(capsys, "distill", "--method", "random", "--ipc", 2, "--out", tmp_path/"r")[0] == 0
    rc, _, err = run_dd(capsys, "redundancy", tmp_path/"r", "--increments", 2, "--figure", tmp_path)
    assert rc == 2 and "is a folder" in err
    rc, _, err = run_dd(capsys, "redundancy", tmp_path/"r", "--increments", 2, "--figure", tmp_path/"no"/"f.png")
    assert rc == 2 and "does not exist" in err
    rc, _, err = run_dd(capsys, "distill", "--method", "igd", "--ipc", 1, "--out", tmp_path/"g", "--param", "window=[2.5, 7]")
    assert rc == 2 and "window=[2.5, 7]; valid: two integer" in err and not (tmp_path/"g").exists()


def test_scores_full_reference_is_cached(capsys, tmp_path, monkeypatch):
    "Issue 28, item 4: --full-epochs sets the reference's length, its cost is said first, and a second call reads it back."
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"cache"))
    assert run_dd(capsys, "distill", "--method", "random", "--ipc", 1, "--out", tmp_path/"r")[0] == 0
    args = ("evaluate", tmp_path/"r", "--runs", 1, "--epochs", 1, "--scores", "--full-epochs", 1)
    rc, out, err = run_dd(capsys, *args)
    assert rc == 0, err
    assert "1 run(s) x 1 epochs on" in out and "LRS" in out
    assert len(list((tmp_path/"cache"/"full_reference").glob("memo_full_*.json"))) == 1
    rc, out2, err = run_dd(capsys, *args)
    assert rc == 0 and "the full-data reference from the cache" in out2, err
    assert [l for l in out.splitlines() if "LRS" in l] == [l for l in out2.splitlines() if "LRS" in l]   # the same scores


def test_static_names_equal_the_registries():
    "`dd`'s parser lists names without importing torch; they must be the registries' own."
    import dd_nb.all  # noqa: F401  (registers every method)
    from dd_nb.data import DATASETS
    from dd_nb.methods import method_names
    from dd_nb.models import NETWORKS
    from dd_nb.train import PROTOCOLS
    assert cli.METHOD_NAMES == tuple(method_names()) and cli.DATASET_NAMES == tuple(DATASETS)
    assert cli.NETWORK_NAMES == tuple(NETWORKS) and cli.PROTOCOL_NAMES == tuple(PROTOCOLS)
    from dd_nb.data import SUBSET_SOURCES
    assert cli.SOURCE_NAMES == tuple(SUBSET_SOURCES)
    from dd_nb.methods import method_params
    assert {m for m in cli.METHOD_NAMES if "pretrained" in {p.name for p in method_params(m)}} == set(cli.DIFFUSION_METHODS)


ARG_ERRORS = [["--help"], ["distill", "--method", "magic", "--ipc", "1", "--out", "o"],
              ["distill", "--method", "random", "--dataset", "mnist", "--ipc", "1", "--out", "o"],
              ["distill", "--method", "random", "--ipc", "0", "--out", "o"], ["distill", "--method", "dm", "--ipc", "1"],
              ["evaluate", "x", "--runs", "0"], ["redundancy", "x", "--increments", "1"], ["reproduce", "--profile", "nope"],
              ["distill", "--method", "dit", "--ipc", "1", "--out", "o", "--param", "backend=dit", "--param", "pretrained=no/DiT-XL-2"],
              ["distill", "--method", "igd", "--ipc", "1", "--out", "o", "--param", "checkpoint=DiT-XL-2-256x256.pt"]]


def test_argument_errors_need_no_torch(tmp_path):
    "Issue 28, item 7: help and argument errors answer before torch's 3.5-4 s import (a fresh process per case)."
    script = ("import sys, json; from dd_nb.cli import main\n"
              "try: rc = main(json.loads(sys.argv[1]))\nexcept SystemExit as e: rc = e.code\n"
              "print(json.dumps([rc, 'torch' in sys.modules]))")
    for argv in ARG_ERRORS:
        r = subprocess.run([sys.executable, "-c", script, json.dumps(argv)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        rc, torch_loaded = json.loads(r.stdout.strip().splitlines()[-1])
        assert rc == (0 if argv == ["--help"] else 2) and not torch_loaded, (argv, rc, torch_loaded, r.stderr)
        if argv != ["--help"]: assert len(r.stderr.strip().splitlines()) == 1 and ": error: " in r.stderr, r.stderr


SHARD_ERRORS = [["dit", "--ipc", "0", "--out", "o"], ["igd", "--ipc", "1", "--out", "o", "--dataset", "mnist"],
                ["igd", "--ipc", "1", "--out", "o", "--seed", str(2**64)], ["dit", "--ipc", "1", "--out", "FILE"],
                ["dit", "--ipc", "1", "--out", "o", "--param", "pretrained=no/DiT-XL-2"], ["dit", "--ipc", "1", "--out", "o", "--param", "cfg"]]


def test_shard_argument_errors_need_no_torch(tmp_path):
    "Issue 28, items 2 and 7: `python -m dd_nb.shard`'s argument errors: one line, exit 2, torch never imported (a process per case)."
    script = ("import runpy, sys, json; argv = json.loads(sys.argv[1]); sys.argv = ['dd_nb.shard', *argv]\n"
              "try: runpy.run_module('dd_nb.shard', run_name='__main__'); rc = 0\nexcept SystemExit as e: rc = e.code\n"
              "print(json.dumps([rc, 'torch' in sys.modules]))")
    (tmp_path/"FILE").write_text("x")
    for argv in SHARD_ERRORS:
        r = subprocess.run([sys.executable, "-c", script, json.dumps(argv)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        rc, torch_loaded = json.loads(r.stdout.strip().splitlines()[-1])
        assert rc == 2 and not torch_loaded, (argv, rc, torch_loaded, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "python -m dd_nb.shard: error: " in r.stderr, r.stderr
        assert not (tmp_path/"o").exists()

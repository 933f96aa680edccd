"""The paper paths on CPU stand-ins (issue 24, item 14): `dd_nb.standin` writes tiny random weights and generated data
in the paper profiles' file formats, every `paper` profile has a `standin` twin that cuts only sizes, and the twins of
the paths no smoke profile takes (ImageNet-layout data, DiT-XL/2's interface with 1000 classes and a VAE, Stable
Diffusion) run end to end.

Models run on `dd_nb.core.default_device()` (DD_NB_DEVICE), never on a hard-coded device."""
import json
import os
import pickle

import pytest
import torch
import yaml

from conftest import ROOT
from dd_nb import reproduce as cli, standin   # the reproduce pipeline (dd_nb.cli is its argparse front end)
from dd_nb.core import default_device
from dd_nb.data import CLASS_SPLITS, load_dataset

STANDIN = ROOT/".cache"/"standin"          # where the standin profiles look: ../.cache/standin/ from nbs/
IMAGENETTE_MAP = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]

# what a stand-in may change in its paper block: sizes (steps, IPC, epochs, image counts, sweeps' lengths, resolution)
# and the paths of the data and weights. Every other value is the paper's code path and must be equal.
SIZE_KEYS = {
    "size", "n_train", "per_class", "ipcs", "seeds", "iterations", "batch_real", "batch_size", "runs", "epochs",
    "full_epochs", "full_runs", "taus", "train_steps", "train_batch", "train_size", "clf_epochs", "cfgs",
    "sample_steps", "steps", "window", "igd_window", "lgd_window", "surrogate_epochs", "surrogate_batch",
    "dm_iterations", "ablation_ipc", "ks", "judge_epochs", "seed_ipc", "stage_ipc", "stages", "max_epochs",
    "patience", "finetune_epochs", "reference_epochs", "redundancy_epochs", "sensitivity", "carto_epochs",
    "grad_per_class", "samples", "fig_seeds", "fig3_real", "evidence_images", "map_images", "fractions", "t_seeds",
    "t_ranges", "fig6_ipc", "ablation_runs", "guidance_batch_size", "memory_at", "patch_size", "fig_classes"}
PATH_KEYS = {"root", "pretrained", "checkpoint", "vae"}
MACHINE_KEYS = {"threads"}   # how many cores a run takes, not what it computes
# 21_checkpoints' standin runs in the suite (about a minute). The others run with DD_NB_STANDIN_RUNS=all and in `make
# standin` (`dd reproduce --profile standin`): 22_igd and 40_patch take 10-20 minutes each on 2 cores, 30_lgd and 11_iwd
# a few, the rest about a minute; the suite covers their paths by their smoke runs, test_cifar10_standin_loads (CIFAR-10's
# release layout) and test_igd_and_lgd_run_on_the_dit_standin (the 1000-class DiT with a VAE through class_map)
RUN = ["21_checkpoints"]
RUN_LONG = [nb for nb in cli.results_notebooks(ROOT) if nb not in RUN]


@pytest.fixture(scope="module")
def assets():
    "The stand-ins where the profiles read them (written once; kept while complete)."
    return standin.write_standin(STANDIN)


def _profiles(nb):
    return yaml.safe_load((ROOT/"experiments"/f"{nb}.yaml").read_text()) or {}


def test_write_standin_is_atomic_and_kept_when_complete(tmp_path, monkeypatch):
    out = tmp_path/"s"
    real = standin._build
    def crash(tmp, seed):   # dies half-way: nothing may appear at `out`, no temporary folder may stay
        (tmp/"imagenet").mkdir()
        raise OSError("disk full")
    monkeypatch.setattr(standin, "_build", crash)
    with pytest.raises(OSError, match="disk full"):
        standin.write_standin(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(standin, "_build", real)
    assert standin.write_standin(out) == out and standin.standin_complete(out)
    stamp = (out/"standin.json").stat().st_mtime_ns
    standin.write_standin(out)
    assert (out/"standin.json").stat().st_mtime_ns == stamp                  # complete and current: kept as it is
    meta = json.loads((out/"standin.json").read_text())
    (out/"standin.json").write_text(json.dumps(dict(meta, digest="stale")))  # written for another spec: rebuilt
    assert not standin.standin_complete(out)
    standin.write_standin(out)
    assert standin.standin_complete(out) and sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    first = (out/"imagenet"/"train"/"n01440764"/"n01440764_0.JPEG").read_bytes()
    standin.write_standin(out, force=True)                                    # the same seed writes the same files
    assert (out/"imagenet"/"train"/"n01440764"/"n01440764_0.JPEG").read_bytes() == first
    with pytest.raises(ValueError, match="seed=-1"):
        standin.write_standin(tmp_path/"t", seed=-1)
    with pytest.raises(ValueError, match="is a file"):
        standin.write_standin(out/"standin.json")


def test_dit_folder_and_original_pt_hold_one_model(assets):
    "Both routes of load_dit read one set of weights with DiT-XL/2's interface; outputs differ only by the two fixes."
    from dd_nb.diffusion import guided_sample, load_dit
    dev = default_device()
    a = load_dit(pretrained=assets/"dit-xl-2-standin", device=dev)
    b = load_dit(checkpoint=assets/"DiT-XL-2-standin.pt", vae=assets/"sd-vae-standin",
                 num_heads=standin.STANDIN_DIT_HEADS, device=dev)
    for bk in (a, b):
        shape = (bk.latent_shape, bk.out_size, bk.num_classes, int(bk.null_cond))
        assert shape == ((4, 32, 32), (standin.STANDIN_SIZE,) * 2, 1000, 1000)
        assert bk.transformer.config.out_channels == 8 and bk.device.type == dev.type   # learned sigma
    sa, sb = a.transformer.state_dict(), b.transformer.state_dict()
    assert sorted(sa) == sorted(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert b.transformer.dit_checkpoint_info["pos_embed"] == "checkpoint"
    z = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0)).to(dev)
    t, y = torch.tensor([999, 20], device=dev), torch.tensor([IMAGENETTE_MAP[9], 1000], device=dev)
    with torch.no_grad():
        for blk in a.transformer.transformer_blocks:   # what load_dit_checkpoint sets to match the original DiT
            blk.norm1.emb.time_proj.downscale_freq_shift, blk.norm3.eps = 0, 1e-6
        torch.testing.assert_close(a.model_output(z, t, y), b.model_output(z, t, y), atol=1e-5, rtol=1e-5)
    x = guided_sample(b, [IMAGENETTE_MAP[9]], steps=2, cfg=4.0, seed=0)
    assert x.shape == (1, 3, standin.STANDIN_SIZE, standin.STANDIN_SIZE) and torch.isfinite(x).all()


def test_sd_and_imagenet_tree_load(assets):
    from dd_nb.diffusion import get_backend, guided_sample
    names = [standin.IMAGENET_NAMES[w] for w in CLASS_SPLITS["imagenette"]]
    tok = sorted(p.name for p in (assets/"sd-standin"/"tokenizer").iterdir())
    assert tok == ["merges.txt", "tokenizer_config.json", "vocab.json"]           # as the hub's SD v1 folders
    sd = get_backend("sd", pretrained=assets/"sd-standin", class_names=names, device=default_device())
    assert sd.num_classes == 10 and sd.latent_shape_for(56) == (4, 28, 28)
    assert guided_sample(sd, [9], steps=2, cfg=4.0, seed=0, size=56).shape == (1, 3, 56, 56)
    for name in CLASS_SPLITS:
        for split, n in (("train", standin.STANDIN_IMAGES["train"]), ("val", standin.STANDIN_IMAGES["val"])):
            ds = load_dataset(name, split, root=assets/"imagenet", size=64, source="imagenet")
            assert ds.classes == CLASS_SPLITS[name] and ds.class_counts().tolist() == [n] * 10
            assert ds.source == "imagenet"
    assert load_dataset("imagenette", root=assets/"imagenet", size=64).class_map == IMAGENETTE_MAP


def test_cifar10_pickles_have_the_release_layout(assets):
    d = assets/"cifar10"/"cifar-10-batches-py"
    want = ["batches.meta", *(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]
    assert sorted(p.name for p in d.iterdir()) == want
    rows = [pickle.loads((d/f"data_batch_{k}").read_bytes(), encoding="latin1") for k in range(1, 6)]
    assert sum(len(r["labels"]) for r in rows) == 10 * standin.STANDIN_CIFAR["train"]
    assert all(r["data"].dtype.name == "uint8" and r["data"].shape[1] == 3072 for r in rows)
    assert pickle.loads((d/"batches.meta").read_bytes(), encoding="latin1")["label_names"] == standin.CIFAR10_CLASSES


def test_cifar10_standin_loads(assets):
    "load_dataset reads the release's layout with a presence check, not the original archive's md5 sums."
    ds = load_dataset("cifar10", root=assets/"cifar10")
    assert len(ds) == 10 * standin.STANDIN_CIFAR["train"] and ds.classes == standin.CIFAR10_CLASSES


@pytest.mark.parametrize("nb", cli.results_notebooks(ROOT))
def test_every_paper_profile_has_a_standin_twin(nb, assets):
    "The standin block sets what the paper block sets, with equal values except sizes and the stand-ins' paths."
    prof = _profiles(nb)
    if "paper" not in prof: pytest.skip(f"{nb} has no paper profile")
    paper, twin = prof["paper"], prof.get("standin")
    assert twin is not None, f"experiments/{nb}.yaml has a paper profile but no standin twin"
    only_paper, only_twin = set(paper) - set(twin), set(twin) - set(paper)
    assert not only_paper and not only_twin, f"{nb}: keys only in paper {only_paper}, only in standin {only_twin}"
    for k, v in paper.items():
        if k in SIZE_KEYS | PATH_KEYS | MACHINE_KEYS: continue
        if k == "method_params": assert set(twin[k]) == set(v), (nb, k); continue
        if k == "backend_kw":
            free = PATH_KEYS | SIZE_KEYS | {"num_heads"}   # num_heads: an original .pt does not store it
            kept = [{a: b for a, b in kw.items() if a not in free} for kw in (twin[k], v)]
            assert kept[0] == kept[1], (nb, k, kept)
            continue
        assert twin[k] == v, f"{nb}: {k} is {twin[k]!r} in standin, {v!r} in paper"
    paths = {k: twin[k] for k in PATH_KEYS if twin.get(k)}
    paths |= {k: v for k, v in (twin.get("backend_kw") or {}).items() if k in PATH_KEYS}
    for k, p in paths.items():
        assert str(p).startswith("../.cache/standin/"), f"{nb}: {k}={p} is not a stand-in"
        assert (ROOT/"nbs"/p).resolve().exists(), f"{nb}: {k}={p} missing after write_standin"


def test_igd_and_lgd_run_on_the_dit_standin(assets):
    "IGD and LGD on DiT-XL/2's interface: 1000 classes through ImageNette's class_map, the VAE named apart, .pt too."
    from dd_nb.all import distill
    train = load_dataset("imagenette", root=assets/"imagenet", size=standin.STANDIN_SIZE, source="imagenet")
    vae = {"vae": str(assets/"sd-vae-standin")}
    gen = dict(backend="dit", pretrained=str(assets/"dit-xl-2-standin"), backend_kw=vae, class_map=train.class_map,
               steps=3, cfg=4.0, progress=False)
    igd = dict(window=(1, 2), surrogate_epochs=1, surrogate_batch=64, grad_per_class=2)
    s = distill("igd", train, 1, seed=0, **gen, **igd)
    assert s.images.shape == (10, 3, 64, 64) and s.labels.tolist() == list(range(10)) and torch.isfinite(s.images).all()
    pt = dict(gen, pretrained=None, checkpoint=str(assets/"DiT-XL-2-standin.pt"),
              backend_kw=dict(vae, num_heads=standin.STANDIN_DIT_HEADS))
    assert distill("dit", train, 1, seed=0, **pt).images.shape == (10, 3, 64, 64)
    s = distill("lgd", train, 2, seed=0, seed_ipc=1, stage_ipc=1, candidates=2, window=(1, 2), seed_params=igd,
                learner="convnet6", reference_epochs=1, max_epochs=2, patience=1, finetune_epochs=1, eval_every=1,
                val_per_class=2, root=str(assets/"imagenet"), **gen)
    assert s.images.shape == (20, 3, 64, 64) and s.labels.bincount().tolist() == [2] * 10


@pytest.mark.parametrize("nb", RUN + RUN_LONG)
def test_standin_profile_runs(nb, assets, monkeypatch):
    "One notebook end to end on the stand-ins, as `dd reproduce --profile standin` runs it."
    if nb in RUN_LONG and os.environ.get("DD_NB_STANDIN_RUNS") != "all":
        pytest.skip(f"{nb} [standin]: minutes on 2 cores; DD_NB_STANDIN_RUNS=all runs it (or make standin)")
    if "standin" not in _profiles(nb): pytest.skip(f"experiments/{nb}.yaml has no standin profile yet")
    if "standin" not in cli.PROFILES: monkeypatch.setattr(cli, "PROFILES", (*cli.PROFILES, "standin"))
    assert cli.missing_inputs(nb, "standin", ROOT) == []
    rec = cli.run_and_record(nb, "standin", ROOT)
    assert rec["status"] == "ok", f"{nb} [standin]: cell {rec.get('cell')}: {rec.get('error')}"

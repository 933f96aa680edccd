"""Errors that came late or said too little (issue 28, items 1 and 3): each fails at once, naming the value and what is
valid, before any data loads or model trains."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from dd_nb.core import FORMAT, DistilledSet


def test_size_must_be_an_integer():
    from dd_nb.data import load_dataset
    with pytest.raises(ValueError, match="size='16'; valid: None .* or an integer from 8 to 512"):
        load_dataset("digits", size="16")


def test_bad_metadata_names_the_file(tmp_path):
    DistilledSet(torch.rand(2, 1, 4, 4), torch.tensor([0, 1])).save(tmp_path)
    f = tmp_path/"distilled.safetensors"
    save_file(load_file(str(f)), str(f), metadata={"format": FORMAT, "meta": "{bad json"})
    with pytest.raises(ValueError, match=f"{f}: its metadata is not valid JSON"):
        DistilledSet.load(tmp_path)
    save_file({"images": torch.full((2, 1, 4, 4), 255.), "labels": torch.tensor([0, 1])}, str(f), metadata={"format": FORMAT})
    with pytest.raises(ValueError, match=f"{f}: images span"):   # the file that holds the bad values is named
        DistilledSet.load(f)


def test_unknown_keywords_suggest_the_nearest(monkeypatch):
    from dd_nb import evaluation
    from dd_nb.diffusion import get_backend
    from dd_nb.evaluation import evaluate
    monkeypatch.setattr(evaluation, "train_test_splits", lambda *a, **k: pytest.fail("data loaded before the check"))
    s = DistilledSet(torch.rand(10, 1, 16, 16), torch.arange(10), meta={"dataset": "digits"})
    with pytest.raises(TypeError, match="unknown argument 'runz'; did you mean 'runs'"):
        evaluate(s, "digits", runz=2)
    with pytest.raises(TypeError, match="unknown argument 'lrr'; did you mean 'lr'"):
        evaluate(s, "digits", lrr=0.1)
    with pytest.raises(TypeError, match="takes no argument 'stepz'; did you mean 'steps'"):
        get_backend("tiny-dit", stepz=3)


def test_no_classes_to_sample():
    from dd_nb.diffusion import _class_ids
    with pytest.raises(ValueError, match="classes is empty"):
        _class_ids([], 10)

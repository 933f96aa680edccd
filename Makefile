# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0
export DD_NB_CACHE ?= $(CURDIR)/.cache
# packages install without byte-compiling (pip's compile step over ~5 GB of torch, CUDA, transformers and diffusers files
# took 88 of the install's 177 s here, for modules no run imports); Python compiles what a run imports on first use and
# keeps it, unless PYTHONDONTWRITEBYTECODE is set (as on some machines): then every process would compile again (imports
# 17 -> 36 s), so make's commands run without it
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo demo-publish reproduce-paper test test-nbs test-py check-clean bench

$(STAMP): settings.ini setup.py scripts/install_datasets.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q --no-compile "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q --no-compile -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# Fashion-MNIST from Debian's package where apt-get may run; else one line saying how (never fails the install)
	@bash scripts/install_datasets.sh || true
	touch $(STAMP)

install: $(STAMP)

# every results notebook under its `demo` profile (experiments/*.yaml): a progress line per notebook; everything, the times
# included, under results/runs/demo/ (ignored by git: a user's checkout stays clean). The committed results/demo_time.md
# that README quotes is a maintainer's run: `make demo-publish` copies this run's table there and renders README.
demo: $(STAMP)
	$(VENV)/bin/dd reproduce --profile demo --times results/runs/demo/demo_time.md
	@cat results/runs/demo/demo_time.md

demo-publish:
	cp results/runs/demo/demo_time.md results/demo_time.md
	$(VENV)/bin/dd readme

# the papers' settings, then 40_patch on ImageWoof. Before any work it lists, per notebook, what is missing and where to
# put it: a CUDA GPU (only for the notebooks that need one), the dataset and the release it reads (ImageNet's classes or
# fast.ai's), the weights folder's parts (model_index.json, config and weights of each part; an original DiT .pt and the
# VAE it needs, sd-vae-ft-mse via backend_kw vae); it logs which VAE decodes
reproduce-paper: $(STAMP)
	$(VENV)/bin/dd reproduce --profile paper
	$(VENV)/bin/dd reproduce --profile paper-imagewoof --notebooks 40_patch

# nbdev_test runs inside test-py (tests/test_concept_notebooks.py, in its own process, beside the other pytest worker)
test: $(STAMP) check-clean test-py

# the results notebooks (those with experiments/<name>.yaml) are skipped here: tests/test_notebooks.py runs each of them
# whole, every unit check included, under its smoke profile, so nbdev_test would only run their checks a second time
RESULTS_NBS := $(subst $(eval) ,|,$(basename $(notdir $(wildcard experiments/*.yaml))))

test-nbs: $(STAMP)
	# one thread per worker: two workers with two threads each oversubscribe the two cores (10x slower)
	OMP_NUM_THREADS=1 $(VENV)/bin/nbdev_test --n_workers 2 --skip_file_re '^[_.]|^($(RESULTS_NBS))\.ipynb$$'

# two pytest workers with one thread each: a test file per worker (its module fixtures shared), the results notebooks' smoke
# runs (tests/test_notebooks.py) one test each, so the workers share them; the longest first, in tests/conftest.py's order
test-py: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q -n 2 --dist loadgroup --no-loadscope-reorder tests

# notebooks are the source: exporting and cleaning them must change nothing that is committed
check-clean: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(VENV)/bin/nbdev_clean
	@if [ -n "$$(git status --porcelain -- nbs dd_nb)" ]; then \
	  echo "nbs/ or dd_nb/ out of sync: run nbdev_export and nbdev_clean, then commit"; git status --porcelain -- nbs dd_nb; git diff --stat -- nbs dd_nb; exit 1; fi

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f; done

# every paper path on CPU stand-ins (dd_nb.standin: tiny random weights and generated data in the paper's file formats,
# written once to .cache/standin/, which the `standin` profiles name); needs no GPU, weights or datasets
.PHONY: standin
standin: $(STAMP)
	$(PY) -m dd_nb.standin $(CURDIR)/.cache/standin
	OMP_NUM_THREADS=1 $(VENV)/bin/dd reproduce --profile standin

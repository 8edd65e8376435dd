# Quick start: `make demo` and `make test` on a fresh machine (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The PyTorch build to install before petseg. The default is the CPU build that this
# machine keeps on disk; a GPU user sets e.g. TORCH_SPEC=torch (see README.md).
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= demo_out
# nnU-Net v2 for `--model` on nnU-Net model folders (README "Running published autoPET models"). Installed with
# --no-deps: dynamic-network-architectures requires timm -> torchvision, and a PyPI torchvision replaces the torch
# build chosen above. Its other dependencies (the `nnunet` extra) go in with the installed torch pinned.
NNUNET_SPEC ?= nnunetv2==2.8.1 dynamic-network-architectures==0.4.4

.PHONY: install dev nnunet demo test test-fast lint browser bench model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.nnunet: pyproject.toml $(VENV)/.installed
	$(BIN)/python -c 'import torch; print("torch==" + torch.__version__)' > $(VENV)/torch-pin.txt
	$(BIN)/pip install --quiet --no-deps $(NNUNET_SPEC)
	$(BIN)/pip install --quiet -c $(VENV)/torch-pin.txt -e ".[nnunet]"
	$(BIN)/python -c 'import nnunetv2.inference.predict_from_raw_data'
	touch $@

install: $(VENV)/.installed

# The tests run nnU-Net v2 model folders through petseg: the dev environment has nnunetv2.
dev: $(VENV)/.dev $(VENV)/.nnunet

nnunet: $(VENV)/.nnunet

demo: install
	$(BIN)/petseg demo -o $(DEMO_OUT) --overwrite

lint: dev
	$(BIN)/ruff check src tests bench

# The report's browser test needs headless Chromium: installed from the system's packages where that is possible
# (apt-get as root or with password-less sudo); elsewhere that test is skipped, or fails when CI is set.
browser:
	-@.ci/install-chromium

test: lint browser
	$(BIN)/pytest -q

# The suite without the tests marked slow (training, full-size and real whole-body studies): under 2 minutes.
test-fast: lint
	$(BIN)/pytest -q -m "not slow"

# The built-in whole-body FDG model (src/petseg/builtin/wb_fdg): data, training (about 30 minutes on 2 cores),
# calibration, the held-out test table, and the installed model folder.
model: install
	$(BIN)/python bench/wb_model.py --parts data train calibrate test install

bench: install
	$(BIN)/python bench/phantom.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/suv_method.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) bench/out .pytest_cache .ruff_cache

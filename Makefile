# Two commands for a newcomer: `make demo` (set up + run the main job) and `make test`.
# Both create .venv on first use; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgekd-installed
PYTEST_ARGS ?=

FMNIST_PATHS := $(if $(EDGEKD_DATA_DIR),$(EDGEKD_DATA_DIR)/train-images-idx3-ubyte.gz $(EDGEKD_DATA_DIR)/fashion-mnist/train-images-idx3-ubyte.gz) /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup data browser demo lint test clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-cache-dir -c constraints.txt -e ".[dev,mlflow,tensorboard,modelopt]"
	@touch $(STAMP)

setup: $(STAMP) data

# Fashion-MNIST (Debian package); without apt, set EDGEKD_DATA_DIR to a folder of its IDX files.
data:
	@scripts/ensure-system-package.sh dataset-fashion-mnist $(FMNIST_PATHS)

# Headless Chromium renders report.html in the report tests (they skip without it).
browser:
	@scripts/ensure-system-package.sh chromium /usr/bin/chromium

# The main job: pipelines/quickstart.yaml (teacher → KD student → ONNX + INT8 → eval/profile →
# report → gate). A second `make demo` finds every stage cached.
demo: setup
	$(BIN)/edgekd run pipelines/quickstart.yaml

# ruff (pycodestyle, pyflakes, isort; 120 columns) and mypy (config in pyproject.toml): part of `make test`.
lint: setup
	$(BIN)/ruff check edgekd tests benchmarks scripts
	$(BIN)/mypy

test: setup browser lint
	# PASSIVE: idle OpenMP threads sleep instead of spinning, so the multi-process (DDP) tests
	# do not starve each other on 2 cores.
	# -n 2: most tests keep one core busy (small models, process start-up), so two workers use
	# both; --dist loadfile keeps a file's tests (and its module fixtures) on one worker.
	OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

# Two commands for a newcomer: `make demo` (set up + run the main job) and `make test`.
# Both create .venv on first use; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgekd-installed
PYTEST_ARGS ?=

.PHONY: setup data demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) data

data:
	@scripts/ensure-fashion-mnist.sh

demo: setup
	$(BIN)/edgekd teacher train resnet18 --data fashion-mnist --limit-train 6000 --epochs 2 --img-size 32 --out runs/demo/teacher

test: setup
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache

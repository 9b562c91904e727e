# `make demo` and `make test` create .venv and install everything they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch, pinned so that pip does not pull the CUDA build; a machine that already has
# torch >= 2.4 (a GPU box) keeps its own: set TORCH_SPEC= to skip the pin.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test test-all lint clean

$(BIN)/mu: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -e ".[train,vision,eval,onnx,dev]"
	@touch $@

install: $(BIN)/mu

demo: install
	$(BIN)/mu demo

test: install
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 $(BIN)/python -m pytest -q

test-all: install
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 $(BIN)/python -m pytest -q -m ""

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache mu-demo

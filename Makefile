# `make demo` and `make test` create .venv and install everything they need first, at the versions CI tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, pinned so that pip does not pull the CUDA build; a machine that already has
# torch >= 2.4 (a GPU box) keeps its own: set TORCH_SPEC= to skip the pin.
TORCH_SPEC ?= torch==2.13.0
# Versions to install: the lock (what CI's main leg tests), or constraints/oldest.txt (`make test-oldest`).
CONSTRAINTS ?= constraints/lock.txt
EXTRAS := train,vision,eval,onnx,ctranslate2,dev
# The libraries whose versions the project's policy bounds (pyproject.toml); shown before each test run.
POLICED := transformers trl peft accelerate datasets evaluate huggingface_hub onnx onnxruntime onnxscript ctranslate2
PYTEST := HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 $(BIN)/python -m pytest -q

.PHONY: install demo versions test test-all test-oldest test-latest lock lint clean

$(BIN)/mu: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@touch $@

install: $(BIN)/mu

demo: install
	$(BIN)/mu demo

versions: install
	@$(BIN)/python -c "import sys, importlib.metadata as m; print('Testing with', ', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))" torch $(POLICED)

test: versions
	$(PYTEST)

test-all: versions
	$(PYTEST) -m ""

# The oldest supported versions, in their own environment (CI's second leg).
test-oldest:
	$(MAKE) test VENV=.venv-oldest CONSTRAINTS=constraints/oldest.txt

# The newest releases, past the policy's upper bounds: check them before raising a bound.
test-latest:
	$(MAKE) install VENV=.venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade $(POLICED)
	$(MAKE) test VENV=.venv-latest

# Rewrites the lock from a fresh environment with the newest versions the bounds allow.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	@if [ -n "$(TORCH_SPEC)" ]; then .venv-lock/bin/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	.venv-lock/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	{ sed -n '1,2p' constraints/lock.txt; .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^torch=='; } \
		> constraints/lock.txt.new
	mv constraints/lock.txt.new constraints/lock.txt
	rm -rf .venv-lock

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

clean:
	rm -rf .venv .venv-oldest .venv-latest .venv-lock build dist src/*.egg-info .pytest_cache mu-demo mu-benchmark

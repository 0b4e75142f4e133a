# Archon on Kubernetes. `make plan` and `make test` are all a fresh machine needs (Python 3.11+).
SHELL := bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
OUT ?= build/$(STACK)

.PHONY: plan test lint bench venv lock clean

## plan: the offline plan of STACK (default staging) into build/STACK, no cluster needed
plan: $(VENV)/.installed
	$(PY) -m offline plan --stack $(STACK) --out $(OUT)

## test: lint (ruff) and the whole test suite
test: lint
	$(PY) -m pytest

## lint: ruff over the whole tree (rules in ruff.toml)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## bench: median offline plan time per stack against the SDK import floor
bench: $(VENV)/.installed
	$(PY) benchmarks/plan_benchmark.py

## venv: create .venv with the pinned requirements (the Pulumi CLI uses the same one)
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

## lock: re-pin constraints.txt from a fresh venv built from requirements.txt alone
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	grep -v '^-c ' requirements.txt > build/lock-requirements.txt
	build/lock-venv/bin/pip install --quiet --disable-pip-version-check -r build/lock-requirements.txt
	{ echo "# Every transitive dependency, pinned (pip freeze of a venv built from requirements.txt)."; \
	  echo "# Regenerate after changing requirements.txt: make lock"; \
	  build/lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf build/lock-venv build/lock-requirements.txt

clean:
	rm -rf build .pytest_cache

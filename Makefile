# Archon on Kubernetes. `make plan` and `make test` are all a fresh machine needs (Python 3.11+).
SHELL := bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
OUT ?= build/$(STACK)

.PHONY: plan test bench venv clean

## plan: the offline plan of STACK (default staging) into build/STACK, no cluster needed
plan: $(VENV)/.installed
	$(PY) -m offline plan --stack $(STACK) --out $(OUT)

## test: the whole test suite
test: $(VENV)/.installed
	$(PY) -m pytest

## bench: median offline plan time per stack against the SDK import floor
bench: $(VENV)/.installed
	$(PY) benchmarks/plan_benchmark.py

## venv: create .venv with the pinned requirements (the Pulumi CLI uses the same one)
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

clean:
	rm -rf build .pytest_cache

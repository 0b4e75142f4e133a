# Archon on Kubernetes. `make plan` and `make test` are all a fresh machine needs (Python 3.11+).
SHELL := bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
OUT ?= build/$(STACK)

.PHONY: plan preview up deploy-staging deploy-production smoke test lint bench bench-policy checkov rules-table \
	backup restore venv lock clean e2e-tools node-images cluster-up cluster-down e2e bench-e2e fuzz fuzz-config \
	fuzz-manifests figures
CHECKOV_VENV := .checkov-venv

## plan: the offline plan of STACK (default staging) into build/STACK, no cluster needed (GRAPH=file.svg draws it)
plan: $(VENV)/.installed
	$(PY) -m offline plan --stack $(STACK) --out $(OUT) $(if $(GRAPH),--graph $(GRAPH),)

## preview: pulumi preview of STACK with the policy pack and its level config (needs the Pulumi CLI and a cluster)
preview: $(VENV)/.installed
	pulumi preview -s $(STACK) --diff --policy-pack policies --policy-pack-config policies/config/$(STACK).json

## up: pulumi up of STACK (asks first; YES=1 does not), then wait for the rollout and run the smoke tests
up: $(VENV)/.installed
	pulumi up -s $(STACK) $(if $(YES),--yes,) --policy-pack policies \
	  --policy-pack-config policies/config/$(STACK).json
	scripts/wait-for-services.sh $(STACK)
	$(MAKE) smoke STACK=$(STACK)

## smoke: the smoke tests of STACK's deployed endpoints (staging's Let's Encrypt staging certificate is untrusted)
smoke:
	$(if $(filter staging,$(STACK)),SMOKE_INSECURE=1,) scripts/smoke-tests.sh $(STACK)

## deploy-staging, deploy-production: `make up` for that stack
deploy-staging:
	$(MAKE) up STACK=staging
deploy-production:
	$(MAKE) up STACK=production

## test: lint (ruff) and the whole test suite
test: lint
	$(PY) -m pytest

## lint: ruff over the whole tree (rules in ruff.toml), mypy over the code and the policy pack (mypy.ini)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	cd policies && ../$(VENV)/bin/mypy --config-file ../mypy.ini archon_policies __main__.py

## bench: median offline plan time per stack against the SDK import floor
bench: $(VENV)/.installed
	$(PY) benchmarks/plan_benchmark.py

## fuzz: 10,000 mutated stack configs through the loader, 300 through the offline plan, 2,000 generated manifests
## through the policy pack judged by the local control plane's API server (FUZZ_CASES, FUZZ_PLANS, FUZZ_MANIFESTS)
FUZZ_CASES ?= 10000
FUZZ_PLANS ?= 300
FUZZ_MANIFESTS ?= 2000
fuzz: fuzz-config fuzz-manifests

## fuzz-config: the config parts of make fuzz (no cluster needed); fuzz-manifests: the manifests, judged
fuzz-config: $(VENV)/.installed
	$(PY) scripts/fuzz.py --cases $(FUZZ_CASES) --plans $(FUZZ_PLANS) --manifests 0
fuzz-manifests: $(VENV)/.installed e2e-tools
	scripts/cluster.sh up --no-real-node
	status=0; $(PY) scripts/fuzz.py --cases 0 --plans 0 --manifests $(FUZZ_MANIFESTS) \
	  --judge build/e2e/kubeconfig || status=$$?; scripts/cluster.sh down; exit $$status

## checkov: independent cross-check of both stacks' manifests, in both monitoring modes (skips: .checkov.yaml)
checkov: $(CHECKOV_VENV)/.installed $(VENV)/.installed
	for stack in staging production; do \
	  $(PY) -m offline plan --stack $$stack --out build/checkov-$$stack > /dev/null || exit 1; \
	  echo "checkov: $$stack"; \
	  $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d build/checkov-$$stack/manifests || exit 1; \
	  rm -rf build/variant-$$stack-operator; \
	  $(PY) -m offline.variant --stack $$stack --set archon:monitoring.mode=operator \
	    --into build/variant-$$stack-operator || exit 1; \
	  $(PY) -m offline plan --stack $$stack --project-dir build/variant-$$stack-operator \
	    --out build/checkov-$$stack-operator > /dev/null || exit 1; \
	  echo "checkov: $$stack, monitoring.mode operator"; \
	  $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d build/checkov-$$stack-operator/manifests || exit 1; \
	done

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

## bench-policy: the pack over 1,000 synthetic workloads through gRPC, against checkov on the same manifests
bench-policy: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) benchmarks/policy_benchmark.py --checkov $(CHECKOV_VENV)/bin/checkov

## rules-table: the README's policy table, generated from the pack and policies/config/
rules-table: $(VENV)/.installed
	$(PY) scripts/rules_table.py

## backup: run the backup CronJob of STACK now (needs the Pulumi CLI and kubectl)
backup:
	scripts/db-job.sh backup $(STACK)

## restore: restore BACKUP_FILE into STACK's PostgreSQL through a Job (needs the Pulumi CLI and kubectl)
restore:
	@test -n "$(BACKUP_FILE)" || { echo "usage: make restore STACK=... BACKUP_FILE=postgres-....dump" >&2; exit 2; }
	scripts/db-job.sh restore $(STACK) $(BACKUP_FILE)

## e2e-tools: build the real-engine toolchain from Go modules (cached in ~/.cache/archon-e2e), print versions
e2e-tools:
	scripts/e2e-tools.sh

## node-images: the real node's images (tools/e2e/images.json) built with buildah, cached in ~/.cache/archon-e2e/images
node-images: $(VENV)/.installed e2e-tools
	$(PY) -m e2e.images build

## cluster-up, cluster-down: the local control plane on loopback and a real node (kubeconfig build/e2e/kubeconfig)
cluster-up: e2e-tools node-images
	scripts/cluster.sh up
cluster-down:
	scripts/cluster.sh down

## e2e: the real Pulumi CLI and provider against the local control plane and real node, every scenario, then stop it all
e2e: $(VENV)/.installed e2e-tools node-images
	scripts/cluster.sh up
	status=0; $(PY) -m pytest -m e2e tests/e2e --junitxml=build/e2e-report.xml $(E2E_ARGS) || status=$$?; \
	  scripts/cluster.sh down; exit $$status

## figures: each real-engine scenario's outcome and time (last make e2e) and the fuzz counts (last make fuzz)
figures: $(VENV)/.installed
	$(PY) scripts/figures.py

## bench-e2e: real preview and up of the local stack against the offline plan, and their longest wait chains
bench-e2e: $(VENV)/.installed e2e-tools
	scripts/cluster.sh up --no-real-node
	status=0; $(PY) benchmarks/e2e_benchmark.py || status=$$?; scripts/cluster.sh down; exit $$status

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

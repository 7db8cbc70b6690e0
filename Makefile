# The front door. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RIG_DIR ?= $(CURDIR)/.rig
export RIG_DIR
# Node.js 24 LTS, installed into the binary cache by hack/install-deps.sh (`make deps`), runs every
# target: npm, npx, the tests and the operators they start.
include hack/versions.sh
DNS01_CACHE ?= $(HOME)/.cache/dns01-operator
export PATH := $(DNS01_CACHE)/node-v$(NODE_VERSION)/bin:$(PATH)
JEST := NODE_OPTIONS=--experimental-vm-modules npx jest

.PHONY: help deps rig-up rig-down rig-status demo test lint typecheck format unit integration e2e crds providers build bench

help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## Install Debian packages, build the rig's Go binaries (cached), npm ci.
	@bash hack/install-deps.sh

rig-up: deps ## Start kube-apiserver+etcd, Pebble and BIND on loopback; writes .rig/env and .rig/kubeconfig.
	@bash hack/rig.sh up

rig-down: ## Stop everything rig-up (and demo) started.
	@bash hack/demo.sh stop-operator 2>/dev/null || true
	@bash hack/rig.sh down

rig-status: ## Exit 0 when the rig is up.
	@bash hack/rig.sh status && echo "rig is up: source $(RIG_DIR)/env"

demo: rig-up ## The main job: rig up, operator running, a wildcard certificate issued and shown.
	@bash hack/demo.sh

test: deps lint typecheck ## Every check: lint, type check, then unit, integration and e2e tests in one run (one rig).
	@$(JEST) --runInBand

lint: ## ESLint (type-checked rules), Prettier, and the chart's CRD copies.
	@npx eslint . && npx prettier --check . && bash hack/sync-chart-crds.sh --check && npx tsx hack/gen-argocd.ts --check

format: ## Rewrite files with Prettier.
	@npx prettier --write .

typecheck: ## tsc --noEmit over src, test, e2e and hack.
	@npx tsc --noEmit -p tsconfig.json

unit: ## Unit tests beside the code (nothing running).
	@$(JEST) --selectProjects unit

integration: ## Integration tests against the real apiserver (starts a private rig unless .rig is up).
	@$(JEST) --selectProjects integration --runInBand

e2e: ## Whole-system tests: apiserver, operator, Pebble and BIND.
	@$(JEST) --selectProjects e2e --runInBand

crds: ## Regenerate deploy/crds (and the chart's copies) from src/crds.
	@npx tsx src/crds/generate.ts
	@bash hack/sync-chart-crds.sh

providers: ## Regenerate src/solvers/providers.generated.ts and docs/providers/ from the descriptors.
	@npx tsx hack/gen-providers.ts

bench: ## Issuance latency, memory and ACME requests (docs/benchmarks.md).
	@npx tsx bench/issuance.ts $(BENCH_ARGS)

build: ## Compile to dist/.
	@npx tsc -p tsconfig.build.json

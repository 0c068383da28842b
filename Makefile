# pv-lifecycle-operator — every target runs on Node >= 22.19: the machine's own
# node when new enough, else Node 24 LTS from the npm registry, cached under
# ~/.cache/pv-lifecycle-operator (scripts/ensure-node.sh).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

NODE_BIN := $(shell scripts/ensure-node.sh)
ifeq ($(strip $(NODE_BIN)),)
$(error could not provide Node >= 22.19, see the message above)
endif
export PATH := $(NODE_BIN):$(PATH)

TSX := node --import tsx
DEPS := node_modules/.installed
CLUSTER := $(TSX) cluster/cli.ts
# Name of the cluster cluster-up/down/status act on, and of the one `make run` starts.
CLUSTER_NAME ?= local
RUN_CLUSTER_NAME ?= demo

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(DEPS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is required (it comes with any Node.js install)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: deps
deps: $(DEPS) ## install the npm dependencies (npm ci)

.PHONY: control-plane
control-plane: ## build and cache kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok
	@bash cluster/build.sh >/dev/null

.PHONY: cluster-up
cluster-up: $(DEPS) control-plane ## start the local control plane in the background; prints the kubeconfig path last (KUBE_INTREE_BINDER=1 turns the in-tree PV binder on)
	@$(CLUSTER) up --name $(CLUSTER_NAME)

.PHONY: cluster-down
cluster-down: $(DEPS) ## stop the local control plane and free its ports
	@$(CLUSTER) down --name $(CLUSTER_NAME)

.PHONY: cluster-status
cluster-status: $(DEPS) ## show the local control plane's processes
	@$(CLUSTER) status --name $(CLUSTER_NAME)

.PHONY: run
run: $(DEPS) ## the demo: the operator against a local control plane (or the cluster in KUBECONFIG); Ctrl-C stops it all
	@if [ -z "$${KUBECONFIG:-}" ]; then $(MAKE) --no-print-directory control-plane; fi
	@RUN_CLUSTER_NAME=$(RUN_CLUSTER_NAME) $(TSX) scripts/run.ts

.PHONY: build
build: $(DEPS) ## compile TypeScript to dist/
	npx tsc -p tsconfig.build.json

.PHONY: lint
lint: $(DEPS) ## eslint and prettier
	npx eslint .
	npx prettier --check .

.PHONY: format
format: $(DEPS) ## rewrite files with prettier
	npx prettier --write .

.PHONY: typecheck
typecheck: $(DEPS) ## strict type-check of everything
	npx tsc -p tsconfig.json --noEmit

.PHONY: helm
helm: ## build and cache helm from the Go modules pinned in cluster/helm; prints its path
	@bash scripts/helm.sh

.PHONY: chart-crds
chart-crds: ## copy crds/ into charts/pv-lifecycle-operator/crds/ (a unit test fails while they differ)
	rm -f charts/pv-lifecycle-operator/crds/*.yaml
	cp crds/*.yaml charts/pv-lifecycle-operator/crds/

# The alert tests run promtool; without Go they skip and say so, any other
# build failure fails them (they run tools/promtool/build.sh again).
.PHONY: promtool
promtool: ## build and cache promtool, Prometheus's rule tester, from the pinned Go module in tools/promtool
	@bash tools/promtool/build.sh >/dev/null || echo "make promtool: not built, the alert tests say why"

# The chart's tests run helm and kubectl's kustomize, the alert tests promtool: all are built and cached first.
.PHONY: test-unit
test-unit: $(DEPS) control-plane helm promtool ## unit tests (no cluster; the chart through helm, the alerts through promtool)
	npx mocha --config .mocharc.unit.json

.PHONY: test-integration
test-integration: $(DEPS) control-plane helm ## tests against a real local control plane
	npx mocha --config .mocharc.integration.json

.PHONY: test
test: lint typecheck test-unit test-integration test-managed e2e e2e-managed test-kind ## everything CI runs

# Its own control plane, with the in-tree PV binder on and the operator beside
# it (--controllers=*,-binder); test-integration skips these files.
.PHONY: test-managed
test-managed: $(DEPS) control-plane ## the managed-cluster mode: the operator beside the in-tree binder (KUBE_INTREE_BINDER=1)
	KUBE_INTREE_BINDER=1 TEST_CLUSTER_NAME=$${TEST_CLUSTER_NAME:-managed} npx mocha --config .mocharc.managed.json

# Not part of make test: upstream differs from the operator on purpose in some
# tests (README, "Against the in-tree binder"), and those fail here.
.PHONY: test-upstream
test-upstream: $(DEPS) control-plane ## the binding and reclaim suites against the in-tree binder (TEST_BINDER=intree), no operator
	TEST_BINDER=intree npx mocha --config .mocharc.upstream.json

# The kind run where a container engine answers; where none does, it says
# what is missing (exit 2) and the rest of make test stands.
.PHONY: test-kind
test-kind: $(DEPS)
	@bash scripts/e2e-kind.sh || { s=$$?; if [ $$s = 2 ]; then echo "make test: the kind run was skipped (no container engine, see above)"; else exit $$s; fi; }

.PHONY: bench-cluster
bench-cluster: $(DEPS) control-plane ## time the local control plane's start and stop, and its idle memory
	$(TSX) bench/cluster-lifecycle.ts

.PHONY: bench-nfs-client
bench-nfs-client: $(DEPS) ## the user-space NFSv4 and NFSv3 clients' mkdir, remove and removeTree rates against nfs-ganesha on loopback (N=1000)
	$(TSX) bench/nfs-client.ts

.PHONY: bench-matcher
bench-matcher: $(DEPS) ## the binder's indexed matcher against a linear scan, 1k to 100k volumes
	$(TSX) bench/matcher.ts

IMAGE ?= pv-lifecycle-operator:dev
# config/default, or config/managed where the cluster's own PV binder cannot be turned off.
VARIANT ?= default

.PHONY: image
image: ## build the container image (IMAGE=pv-lifecycle-operator:dev) with docker or podman; without a registry, on a Node base built here
	@bash scripts/image.sh $(IMAGE) >/dev/null

.PHONY: e2e
e2e: $(DEPS) control-plane ## the end-to-end specs on the local control plane (nfs-ganesha on loopback, two operator replicas with the ServiceAccount's token)
	$(TSX) e2e/local.ts

.PHONY: e2e-managed
e2e-managed: $(DEPS) control-plane ## the end-to-end specs beside the in-tree binder: the local control plane with it on, the operator with --controllers=*,-binder
	E2E_MODE=managed $(TSX) e2e/local.ts

.PHONY: e2e-kind
e2e-kind: $(DEPS) ## the end-to-end specs on kind with real pods and real scrubs, the operator deployed from its image (docker or podman; builds what no registry gives)
	bash scripts/e2e-kind.sh

.PHONY: e2e-k3s
e2e-k3s: $(DEPS) ## the end-to-end specs on k3s through testcontainers (skipped where no Docker-compatible engine answers)
	$(TSX) e2e/k3s.ts

.PHONY: deploy
deploy: ## deploy the operator into the cluster of KUBECONFIG with kustomize (IMAGE=pv-lifecycle-operator:dev, which its nodes must be able to pull; VARIANT=managed beside the cluster's own PV binder)
	DEPLOY_VARIANT=$(VARIANT) bash scripts/deploy.sh deploy $(IMAGE)

.PHONY: undeploy
undeploy: ## remove the operator from the cluster of KUBECONFIG (keeps the CRD, NfsExports and volumes)
	bash scripts/deploy.sh undeploy

.PHONY: bench-storm
bench-storm: $(DEPS) control-plane ## a binding storm, the unthrottled in-tree binder beside the operator: time, CPU, peak RSS, requests per bind (COUNTS=300,1000 WORKERS=4 INTREE_QPS=5000)
	$(TSX) bench/binding-storm.ts

.PHONY: bench-provision
bench-provision: $(DEPS) control-plane ## dynamic provisioning against nfs-ganesha: N claims to Bound and deleted, beside N NfsExports and the NFSv4 client's raw rate (N=1000 WORKERS= KCM_QPS=)
	$(TSX) bench/provisioning.ts

.PHONY: bench-steady
bench-steady: $(DEPS) control-plane ## steady state, one binder at a time: N Available volumes, claims one at a time, an idle resync window, N bound claims (N=10000 CLAIMS=100 IDLE_SECONDS=35)
	$(TSX) bench/steady-state.ts

.PHONY: bench-memory
bench-memory: $(DEPS) control-plane ## the operator's memory at 10,000 volumes: after sync, 100 binds, resyncs; then 10,000 bound claims (VOLUMES= HEAP_SNAPSHOTS=1 OPERATOR_DIR= OPERATOR_NODE_OPTIONS=)
	$(TSX) bench/memory.ts

.PHONY: bench-chaos
bench-chaos: $(DEPS) control-plane ## randomized runs of claims and releases while the operator, kube-apiserver and etcd fail; checks binding and scrub invariants (RUNS=20 SEED= CLAIMS=100 VOLUMES=40 STORM_SECONDS=15-30)
	$(TSX) bench/chaos.ts

.PHONY: clean
clean: ## remove build output and stopped clusters' data (not the cache)
	-@$(CLUSTER) down --name local 2>/dev/null
	rm -rf dist .cluster

# loadlens — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
LOADLENS := $(BIN)/loadlens
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: help setup setup-k8s build demo demo-compare up down status test bench vet fmt-check tidy-check

# The demo's load: about 60 s of the mixed `load` scenario.
DEMO_LOAD := --env DURATION=50s --env RAMP=5s --env VUS=20

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## install missing Debian packages and build k6 into .tools/ (idempotent)
	@scripts/setup.sh

setup-k8s: ## build the pinned Kubernetes control-plane binaries for e2e/k8s into .tools/k8s/ (idempotent; ~17 min cold)
	@scripts/setup-k8s.sh

build: ## build the loadlens binaries into bin/
	@$(GO) build -o $(BIN)/ ./cmd/...

demo: setup build ## start the stack, run ~60 s of mixed k6 load and write its report
	@$(LOADLENS) up
	@echo
	@# 99: k6 thresholds crossed; the report says where, the demo goes on.
	@$(LOADLENS) run load --quiet $(DEMO_LOAD) || [ $$? -eq 99 ]
	@echo
	@echo "Prometheus: http://127.0.0.1:19090/alerts   Alertmanager: http://127.0.0.1:19093"
	@echo "More: bin/loadlens run stepped | make demo-compare | bin/loadlens status | bin/loadlens down"

demo-compare: setup build ## run the same load on the naive and the tuned demo and compare them
	@$(LOADLENS) compare --scenario load --demo.query-delay=10ms $(DEMO_LOAD)

up: build ## start the native stack
	@$(LOADLENS) up
down: build ## stop the native stack
	@$(LOADLENS) down
status: build ## show the native stack's health
	@$(LOADLENS) status

# The tests that run loadlens-demo and loadlens-exporter take them from bin/
# (built just before) instead of linking them again in every test package.
# Most test time is spent waiting on real servers (a control plane, an alert's
# `for`, a rate window), not on the CPU: two packages per core instead of
# go test's one keep the cores busy (2m19s -> 1m33s on 2 cores).
TEST_P := $(shell echo $$(( $$(nproc) * 2 )))
test: setup setup-k8s vet fmt-check tidy-check build ## run every test: unit, integration with real servers, end to end (native stack and a real Kubernetes control plane)
	LOADLENS_TEST_BINARIES=$(BIN) $(GO) test -p $(TEST_P) -count=1 -timeout 20m ./...

bench: ## benchmarks as ratios measured in one run (3-4 min; bench/README.md)
	@bench/run.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

tidy-check:
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }

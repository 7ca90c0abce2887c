# loadlens — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
LOADLENS := $(BIN)/loadlens
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: help setup build demo up down status test vet fmt-check tidy-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## install missing Debian packages and build k6 into .tools/ (idempotent)
	@scripts/setup.sh

build: ## build the loadlens binaries into bin/
	@$(GO) build -o $(BIN)/ ./cmd/...

demo: setup build ## start the native stack and show what runs
	@$(LOADLENS) up
	@echo
	@echo "Stop everything with: bin/loadlens down"

up: build ## start the native stack
	@$(LOADLENS) up
down: build ## stop the native stack
	@$(LOADLENS) down
status: build ## show the native stack's health
	@$(LOADLENS) status

test: setup vet fmt-check tidy-check ## run every test (unit, integration with real servers)
	$(GO) test -timeout 20m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

tidy-check:
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }

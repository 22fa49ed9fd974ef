# Strata — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

# Pinned tool versions; `make tools` installs them into ./bin.
BUF_VERSION := v1.50.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

GOTEST_FLAGS ?= -count=1 -timeout 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/buf:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

.PHONY: tools
tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc ## Install pinned buf and protoc plugins into ./bin.

.PHONY: generate
generate: tools ## Regenerate gen/ from proto/ (buf, local plugins).
	rm -rf gen
	buf generate

.PHONY: check-generate
check-generate: generate ## Fail if gen/ differs from what `make generate` writes.
	@git add -N gen >/dev/null 2>&1 || true
	@if ! git diff --quiet --exit-code -- gen; then \
		echo "gen/ is stale: run 'make generate' and commit the result"; git diff --stat -- gen; exit 1; fi
	@if [ -n "$$(git ls-files --others --exclude-standard gen)" ]; then \
		echo "gen/ has uncommitted files:"; git ls-files --others --exclude-standard gen; exit 1; fi

.PHONY: lint
lint: tools ## gofmt, go vet, buf lint, buf format, buf breaking.
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	buf lint
	buf format -d --exit-code
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then \
		buf breaking --against '.git#branch=main'; fi

.PHONY: build
build: ## Build ./bin/strata.
	$(GO) build -o $(BIN)/strata ./cmd/strata

.PHONY: run
run: ## Start a local dev cluster (controller, 3 storage nodes, gateway) in ./strata-data.
	$(GO) run ./cmd/strata dev

.PHONY: test
test: ## Unit and multi-process integration tests (replays fuzz corpora).
	$(GO) test $(GOTEST_FLAGS) ./...

.PHONY: bench
bench: ## Benchmarks of the storage engine.
	$(GO) test -run '^$$' -bench . -benchmem ./services/storage/...

.PHONY: fmt
fmt: tools ## Format Go and proto sources.
	gofmt -w $$(git ls-files '*.go')
	buf format -w

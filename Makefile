# Strata — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

# Pinned tool versions; `make tools` installs them into ./bin.
BUF_VERSION := v1.50.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION := v1.9.3
GRPC_GATEWAY_VERSION := v2.33.0

GOTEST_FLAGS ?= -count=1 -timeout 20m

# Go modules besides the server's: the generated public API (api/), which
# clients import without the server, and the Go client (clients/go), whose
# tests build ./cmd/strata and run it.
SUBMODULES := api clients/go

# What `make generate` writes (buf.gen.yaml): the server's gen/, the public
# API's Go in api/, and the REST OpenAPI document the gateway embeds.
GENERATED := gen api/strata services/gateway/rest/openapi.swagger.json
GENERATED_CHECK := gen api services/gateway/rest/openapi.swagger.json

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
$(BIN)/protoc-gen-grpc-gateway:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
$(BIN)/grpcurl:
	GOBIN=$(BIN) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

.PHONY: tools
tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2 $(BIN)/grpcurl ## Install pinned buf, protoc plugins and grpcurl into ./bin.

.PHONY: generate
generate: tools ## Regenerate gen/, api/ and the REST OpenAPI document from proto/ (buf, local plugins).
	rm -rf $(GENERATED)
	buf generate
	buf generate --template buf.gen.rest.yaml

.PHONY: check-generate
check-generate: generate ## Fail if gen/, api/ or the OpenAPI document differs from what `make generate` writes.
	@git add -N $(GENERATED_CHECK) >/dev/null 2>&1 || true
	@if ! git diff --quiet --exit-code -- $(GENERATED_CHECK); then \
		echo "generated code is stale: run 'make generate' and commit the result"; git diff --stat -- $(GENERATED_CHECK); exit 1; fi
	@if [ -n "$$(git ls-files --others --exclude-standard $(GENERATED_CHECK))" ]; then \
		echo "generated code has uncommitted files:"; git ls-files --others --exclude-standard $(GENERATED_CHECK); exit 1; fi

.PHONY: lint
lint: tools ## gofmt, go vet, buf lint, buf format, buf breaking.
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for m in $(SUBMODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done
	buf lint
	buf format -d --exit-code
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then \
		buf breaking --against '.git#branch=main'; fi

.PHONY: build
# The version and commit `strata version` prints.
VERSION ?= dev
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)

build: ## Build ./bin/strata (VERSION=v1.2.3 to stamp a version).
	$(GO) build -buildvcs=auto -ldflags "-X github.com/strata-io/strata/internal/cli.Version=$(VERSION) -X github.com/strata-io/strata/internal/cli.Commit=$(COMMIT)" -o $(BIN)/strata ./cmd/strata

.PHONY: run
run: ## Start a local dev cluster (controller, 3 storage nodes, gateway) in ./strata-data.
	$(GO) run ./cmd/strata dev

.PHONY: test
test: ## Unit and multi-process integration tests (replays fuzz corpora), in every module.
	@for m in $(SUBMODULES); do echo "go test ($$m)"; (cd $$m && $(GO) test $(GOTEST_FLAGS) ./...) || exit 1; done
	$(GO) test $(GOTEST_FLAGS) ./...

.PHONY: test-race
test-race: ## Unit tests and the multi-process tests with the race detector in every process.
	$(GO) test -race $(GOTEST_FLAGS) ./internal/... ./services/...
	STRATA_E2E_RACE=1 $(GO) test $(GOTEST_FLAGS) ./test/e2e/

.PHONY: test-mtls
test-mtls: ## The replication and fault multi-process suites with TLS on every role and mTLS between them.
	STRATA_E2E_TLS=1 $(GO) test $(GOTEST_FLAGS) -run 'TestReplication|TestStorageNodeKilled|TestActiveControllerKilled|TestTLSCluster' ./test/e2e/

.PHONY: test-faults
test-faults: ## Long fault suite (random kills, pauses, SIGTERMs under acks=all and exactly-once transactional load; STRATA_SOAK_DURATION=30s shortens it).
	$(GO) test -count=1 -timeout 30m -tags faults -run 'TestSoak' -v ./test/e2e/

.PHONY: bench
bench-replication: ## Produce throughput RF=3 acks=all vs RF=1 acks=1, and latency at 5k records/s, on strata dev.
	$(GO) test -run '^$$' -bench BenchmarkReplication -benchtime 1x ./test/bench/

bench: ## Benchmarks of the storage engine.
	$(GO) test -run '^$$' -bench . -benchmem ./services/storage/...

.PHONY: bench-kafka
bench-kafka: ## franz-go against `strata dev` and kfake in the same run (BENCH_QUICK=1 for a short run).
	$(GO) test -run '^$$' -bench BenchmarkKafka -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-compare
bench-compare: ## Every figure of the performance table with its ratio: kfake, Strata over Kafka and over gRPC, interleaved, 3 rounds (BENCH_QUICK=1: 2 short rounds).
	$(GO) test -run '^$$' -bench BenchmarkCompare -benchtime 1x -timeout 60m ./test/bench/

.PHONY: bench-scaling
bench-scaling: ## Throughput and p99 at 6/60/600 partitions, a 10,000-partition topic, restart with 10,000 segments, gateway CPU per MB/s, latency against load (writes docs/performance-latency.svg).
	$(GO) test -run '^$$' -bench BenchmarkScaling -benchtime 1x -timeout 60m ./test/bench/

.PHONY: bench-hops
bench-hops: ## Where one acks=all RF=3 produce spends its time, hop by hop (strata dev at debug level, 500 produces in sequence).
	$(GO) test -run '^$$' -bench BenchmarkHops -benchtime 1x -timeout 10m ./test/bench/

.PHONY: bench-stream
bench-stream: ## gRPC ProduceStream beside franz-go over the Kafka protocol on `strata dev`: 1 KiB throughput and acks=all latency, 3 rounds.
	$(GO) test -run '^$$' -bench BenchmarkStreamVsKafka -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-rest
bench-rest: ## REST produce (1,000-record JSON bodies, 4 HTTP clients) beside unary gRPC Produce on `strata dev`: records/s, 3 rounds.
	$(GO) test -run '^$$' -bench BenchmarkRestProduce -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-client
bench-client: ## The Go client (clients/go) beside franz-go on `strata dev`: 1 KiB produce throughput, RF=1 and RF=3, then a group Consumer reading the RF=3 records, 3 rounds.
	$(GO) test -run '^$$' -bench BenchmarkClientVsKafka -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-commits
bench-commits: ## Offset commits per second through the etcd-backed coordinator on `strata dev`, beside kfake, 3 rounds.
	$(GO) test -run '^$$' -bench BenchmarkOffsetCommits -benchtime 1x -timeout 10m ./test/bench/

.PHONY: bench-gateway
bench-gateway: ## allocs/op and ns/op of the gateway's Kafka produce handling (storage stubbed), 10 vs 1000 records per batch.
	$(GO) test -run '^$$' -bench BenchmarkGatewayProduce -benchmem ./services/gateway/kafka/

.PHONY: fmt
fmt: tools ## Format Go and proto sources.
	gofmt -w $$(git ls-files '*.go')
	buf format -w

# Docker Compose deployment (deploy/compose): the v2 plugin `docker compose`
# when installed, else v1 `docker-compose`.
COMPOSE_CMD ?= $(shell if docker compose version >/dev/null 2>&1; then echo docker compose; else echo docker-compose; fi)
COMPOSE_PROJECT ?= strata
COMPOSE_FILE := deploy/compose/docker-compose.yml
COMPOSE := $(COMPOSE_CMD) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE)
COMPOSE_BUILD := deploy/compose/build
COMPOSE_WAIT ?= 120
# The storage certificate covers every address of this range (the compose
# network's STRATA_SUBNET, 172.28.0.0/24 by default, must lie inside it).
COMPOSE_CERT_SUBNET ?= 172.28.0.0/23
# Storage nodes for compose-up and compose-scale: the number running, else
# 3. Every `up` needs it: without --scale compose goes back to the file's
# `scale: 3` and stops the extra storage containers.
STORAGE ?= $(shell n=$$($(COMPOSE) ps -q storage 2>/dev/null | wc -l); if [ "$$n" -gt 0 ]; then echo $$n; else echo 3; fi)
IMAGE ?= strata:dev

.PHONY: images
images: ## Build a static strata binary into deploy/compose/build and the FROM-scratch image strata:dev.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(COMPOSE_BUILD)/strata ./cmd/strata
	mkdir -p $(COMPOSE_BUILD)/data
	docker build -q -t $(IMAGE) -f deploy/compose/Dockerfile $(COMPOSE_BUILD)

.PHONY: compose-certs
compose-certs: images ## Write the Compose cluster's development CA and role certificates to deploy/compose/certs (kept when present).
	$(COMPOSE_BUILD)/strata certs --dir deploy/compose/certs --if-missing --storage-nodes 0 --storage-shared \
		--hosts c1,c2,c3,gateway1,gateway2,$(COMPOSE_CERT_SUBNET)
	@# The containers run as an unprivileged user that must read the role keys of this
	@# development CA; the CA's own key stays private.
	chmod 0644 deploy/compose/certs/*.key
	chmod 0600 deploy/compose/certs/ca.key

# compose-wait waits until every container of the project is healthy.
define compose-wait
	@deadline=$$(( $$(date +%s) + $(COMPOSE_WAIT) )); \
	while :; do \
		states=$$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' \
			$$($(COMPOSE) ps -q)); \
		if ! grep -qv ' healthy$$' <<<"$$states"; then echo "$$states"; echo "all services healthy"; break; fi; \
		if grep -q ' unhealthy$$' <<<"$$states" || [ $$(date +%s) -ge $$deadline ]; then \
			echo "not healthy within $(COMPOSE_WAIT)s:"; echo "$$states"; $(COMPOSE) logs --tail 20; exit 1; fi; \
		sleep 1; \
	done
endef

.PHONY: compose-up
compose-up: compose-certs ## Start the Compose cluster (3 controllers, 3 storage nodes or the number running, gateways on localhost:9191/9192) and wait until healthy.
	$(COMPOSE) up -d --scale storage=$(STORAGE)
	$(compose-wait)

.PHONY: compose-scale
compose-scale: ## Run STORAGE storage nodes (make compose-scale STORAGE=5); drain a node first before scaling down (docs/operations.md).
	$(COMPOSE) up -d --no-recreate --scale storage=$(STORAGE)
	$(compose-wait)

.PHONY: compose-down
compose-down: ## Stop the Compose cluster and delete its volumes (storage volumes handed over by a recreate too).
	@# down -v deletes only the volumes a container was created with: a storage
	@# volume compose handed from a recreated container to its successor is kept,
	@# so delete the storage containers' /data volumes by name.
	@vols=$$(ids=$$($(COMPOSE) ps -a -q storage 2>/dev/null); [ -z "$$ids" ] || docker inspect -f \
		'{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}} {{end}}{{end}}' $$ids); \
	$(COMPOSE) down -v --remove-orphans && if [ -n "$$vols" ]; then docker volume rm -f $$vols >/dev/null; fi

.PHONY: test-compose
test-compose: ## Compose smoke test and the fault suite's smoke subset (own project, ports and subnet; builds the image; needs Docker).
	STRATA_FAULTS=smoke $(GO) test -tags compose -count=1 -timeout 10m -v -run 'TestComposeClusterFailover|TestComposeFaults' ./test/compose/

.PHONY: test-faults-compose
test-faults-compose: ## Every fault scenario against a Compose cluster (kill, restart, pause, network partition, scale, drain); prints the table for docs/operations.md.
	$(GO) test -tags compose -count=1 -timeout 20m -v -run TestComposeFaults ./test/compose/


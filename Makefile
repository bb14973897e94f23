# Photoshoot Studio. `make run` starts the whole suite; `make test` runs every test.
# Tool versions are pinned here; `make tools` installs them into ./bin with go install.

BUF_VERSION            := v1.75.0
PROTOC_GEN_GO_VERSION  := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION   := v2.33.0
STATICCHECK_VERSION    := v0.8.2
STRIPE_MOCK_VERSION    := v0.203.0
# Google's google/api protos come from this module at generate time (never committed).
GOOGLEAPIS_MODULE      := github.com/grpc-ecosystem/grpc-gateway@v1.16.0

BIN      := $(CURDIR)/bin
SERVICES := account billing media analysis generation
BINARIES := $(SERVICES) gateway photoshoot-local
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

# Tests use the machine's PostgreSQL when it answers; otherwise postgrestest
# starts a throwaway cluster with initdb/pg_ctl.
PHOTOSHOOT_TEST_DATABASE_URL ?= $(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable')
export PHOTOSHOOT_TEST_DATABASE_URL

.DEFAULT_GOAL := help
.PHONY: help tools googleapis proto proto-check lint build run test bench bench-gateway clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2 $(BIN)/staticcheck $(BIN)/stripe-mock ## Install pinned code generators, linters and test servers into ./bin

$(BIN)/buf:
	GOBIN=$(BIN) GOWORK=off go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) GOWORK=off go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) GOWORK=off go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
$(BIN)/protoc-gen-grpc-gateway:
	GOBIN=$(BIN) GOWORK=off go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	GOBIN=$(BIN) GOWORK=off go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
$(BIN)/staticcheck:
	GOBIN=$(BIN) GOWORK=off go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(BIN)/stripe-mock:
	GOBIN=$(BIN) GOWORK=off go install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

googleapis: ## Fetch google/api protos from the Go module cache into .build/googleapis
	@dir=$$(cd /tmp && GOWORK=off GOFLAGS=-mod=mod go mod download -json $(GOOGLEAPIS_MODULE) | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	test -n "$$dir" || { echo "cannot download $(GOOGLEAPIS_MODULE)"; exit 1; }; \
	mkdir -p .build/googleapis/google/api; \
	install -m 644 $$dir/third_party/googleapis/google/api/annotations.proto $$dir/third_party/googleapis/google/api/http.proto .build/googleapis/google/api/

proto: tools googleapis ## Regenerate Go code and the OpenAPI document from proto/
	find proto -name '*.pb.go' -o -name '*.pb.gw.go' | xargs -r rm
	$(BIN)/buf format -w proto
	PATH=$(BIN):$$PATH $(BIN)/buf generate

proto-check: proto ## Fail when the committed generated code is stale
	@git diff --exit-code -- proto gateway/openapi || { echo "generated code is stale: run make proto and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto gateway/openapi)" || { git status --porcelain -- proto gateway/openapi; echo "untracked generated files: run make proto and commit"; exit 1; }

lint: tools googleapis ## buf lint, buf format, buf breaking against main, gofmt, go vet, staticcheck
	$(BIN)/buf lint
	$(BIN)/buf format -d --exit-code proto
	@./scripts/buf-breaking.sh $(BIN)/buf
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	go vet work
	$(BIN)/staticcheck work

build: ## Build every binary into ./bin
	@mkdir -p $(BIN)
	go build -o $(BIN)/ $(foreach s,$(SERVICES),./services/$(s)/cmd/$(s)) ./gateway/cmd/gateway ./deploy/local/cmd/photoshoot-local

run: build ## Start the whole suite locally (PostgreSQL under .data/, NATS embedded) at http://localhost:8080
	$(BIN)/photoshoot-local -root $(CURDIR)

test: $(BIN)/stripe-mock ## Run every test (Postgres, NATS, processes, browser)
	PATH=$(BIN):$$PATH go test $(GOTEST_FLAGS) work

bench: ## Run the benchmarks and print them (the Go benchmarks, then bench-gateway)
	go test -run '^$$' -bench . -benchmem work
	$(MAKE) --no-print-directory bench-gateway

GWBENCH_FLAGS ?=
bench-gateway: ## REST through the gateway vs direct gRPC on the real suite: req/s, p50/p99, CPU µs per request
	cd gateway && go run ./e2e/gwbench -root $(CURDIR) $(GWBENCH_FLAGS)

clean: ## Remove build output and local data (.data holds your local database!)
	rm -rf $(BIN) .build
	@echo "local data kept in .data/ (rm -rf .data to reset it)"

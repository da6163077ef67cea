# otelcol-custom — build, run, test, generate.
#   make run    build if needed, run the collector on testdata/pipeline.yaml
#   make test   install prerequisites, build, run every test (needs root for the eBPF tests)
#   make test-kernels   the eBPF receiver's tests on Debian's 5.10, 6.1 and 6.12 kernels under QEMU
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

TOOLS     := $(CURDIR)/.tools/bin
BUILD     := $(CURDIR)/_build
BINARY    := $(BUILD)/otelcol-custom
DIST      := cmd/otelcol-custom
CONFIG    ?= testdata/pipeline.yaml
export PATH := $(TOOLS):$(PATH)
# A static binary that runs on any Linux distribution.
export CGO_ENABLED := 0
# One set of flags for every go command so builds and tests share the build cache.
export GOFLAGS := -buildvcs=false -trimpath

GO_SOURCES := $(shell find . -path ./.tools -prune -o -path ./_build -prune -o -path ./.cache -prune -o \
	\( -name '*.go' -o -name go.mod -o -name go.sum -o -name '*.o' \) -print)
# Our packages with an mdatagen metadata.yaml.
METADATA := $(shell find receiver processor exporter extension confmap -name metadata.yaml 2>/dev/null)
# Paths written by `make generate`; CI fails when regenerating them changes anything.
GENERATED := $(DIST) $(METADATA:metadata.yaml=internal/metadata) $(METADATA:metadata.yaml=documentation.md) \
	$(METADATA:metadata.yaml=generated_component_test.go) $(METADATA:metadata.yaml=generated_package_test.go) \
	receiver/ebpfreceiver bpf bench/ebpf

.PHONY: build run test test-unit test-dist test-compat test-e2e test-kernels prereqs tools generate check-generated lint bench bench-foundation peers soak clean

build: $(BINARY)

$(BINARY): $(GO_SOURCES)
	cd $(DIST) && go build -ldflags "-s -w" -o $(BINARY) .

run: $(BINARY)
	$(BINARY) --config $(CONFIG)

# Everything the tests need on a fresh Debian machine: apt packages and cached heavy builds
# (etcd 3.6, kube-apiserver, Prometheus 3). Each scripts/prereq-*.sh is idempotent and quick when done.
prereqs: tools
	@for s in scripts/prereq-*.sh; do echo ">> $$s"; bash "$$s"; done

tools: $(TOOLS)/mdatagen $(TOOLS)/bpf2go $(TOOLS)/builder

TOOL_PKGS := github.com/cilium/ebpf/cmd/bpf2go go.opentelemetry.io/collector/cmd/mdatagen go.opentelemetry.io/collector/cmd/builder

$(TOOLS)/mdatagen $(TOOLS)/bpf2go $(TOOLS)/builder &: internal/tools/go.mod internal/tools/go.sum
	@mkdir -p $(TOOLS)
	cd internal/tools && go build -o $(TOOLS)/ $(TOOL_PKGS)

test: prereqs check-generated lint build test-unit test-dist test-compat test-e2e test-kernels

# Unit and component tests of our own packages. Privileged tests (eBPF) need root: CI runs as root.
# The eBPF receiver's package runs after the others, not beside them: its edge tests size the
# kernel's node-wide edge table (tcp.edges.max_edges) to a handful of entries, and the other
# packages' loopback traffic would take those slots.
EBPF_PKG := ./receiver/ebpfreceiver
test-unit:
	go test -count=1 -timeout 30m $$(go list ./... | grep -vx 'github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver')
	go test -count=1 -timeout 15m $(EBPF_PKG)

# The embedding package of the distribution module (starts an embedded collector).
test-dist:
	cd $(DIST) && go test -count=1 -timeout 10m ./...

# Drop-in compatibility: every config key and default of the contrib components we replace
# (prometheusremotewriteexporter v0.161.0, k8sattributesprocessor v1.0.0) is ours too. A module of
# its own, so that only this test depends on contrib and the distribution does not.
test-compat:
	cd test/configcompat && go test -count=1 -timeout 5m ./...

# End-to-end tests through the built binary.
test-e2e: $(BINARY)
	OTELCOL_CUSTOM_BINARY=$(BINARY) go test -count=1 -timeout 20m -tags e2e ./test/e2e/...
	@# The backend-outage reliability test, shortened to a 20 s outage (make soak runs 5 minutes).
	OTELCOL_CUSTOM_BINARY=$(BINARY) SOAK_OUTAGE=20s go test -count=1 -timeout 10m -tags soak -run 'TestBackendOutage|TestGrowth' ./test/soak/

# The kernel matrix (test/kernels/README.md): boots each kernel under QEMU and runs the eBPF
# receiver's kernel-facing tests and the built collector there. Filters: KERNEL=6.1 (or
# KERNELS="5.10 6.12"), RUN='TestOOM' (go test -run), SUITES=probes,cgroupfs,ebpfreceiver,collector.
test-kernels: $(BINARY)
	./test/kernels/run.sh

# Long reliability runs: a 5-minute backend outage and a 30-minute soak with every component on
# (root, `make prereqs`); figures go to bench/soak/results and bench/README.md.
soak: build
	./bench/soak/run.sh

generate: tools
	builder --config builder-config.yaml --skip-compilation
	./scripts/gen-distribution.sh
	@# mdatagen runs here, once for every metadata.yaml, and nowhere else (no //go:generate for it):
	@# a new component is picked up by having a metadata.yaml. go generate runs bpf2go.
	@for m in $(METADATA); do (cd $$(dirname $$m) && mdatagen metadata.yaml); done
	go generate ./...
	gofmt -w $(DIST)

# Regenerate and fail when the committed generated code differs (stale ocb output, metadata or BPF objects).
check-generated: generate
	@./scripts/bpf-objects-equivalent.sh
	@if ! git diff --quiet -- $(GENERATED); then \
		echo "generated code is stale; run 'make generate' and commit:"; git diff --stat -- $(GENERATED); exit 1; fi
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
		if [ -n "$$untracked" ]; then echo "generated files not committed: $$untracked"; exit 1; fi

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfe[lb].go$$')); \
		if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./test/e2e/
	go vet -tags soak ./test/soak/
	cd $(DIST) && go vet ./...
	cd test/configcompat && go vet ./...

peers:
	./bench/peers/build.sh

bench: build peers
	./bench/run.sh

bench-foundation: build peers
	./bench/foundation/run.sh

clean:
	rm -rf $(BUILD)

# podvm-migrate: build, test, demo, bench, lint. Run `make deps` once as root
# on Debian 12 (test/demo/build call it when a package is missing).
SHELL := /bin/bash
GO    ?= go
# containers/image needs these tags to build without gpgme, btrfs and devicemapper headers.
TAGS  ?= containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper
# convert inflates VMDK grains with libdeflate (about twice zlib's speed) when
# it is installed (make deps installs libdeflate-dev), else in pure Go.
TAGS  += $(shell pkg-config --exists libdeflate 2>/dev/null && echo libdeflate)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_TAGS := -tags '$(TAGS)'
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# libvirt.org/go/libvirt is cgo.
export CGO_ENABLED := 1

.PHONY: all build test demo bench lint fuzz deps check-deps clean kube-apiserver debian-guest

all: build

build: check-deps
	$(GO) build $(GOFLAGS_TAGS) -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# The Debian guest-conversion test (PODVM_SLOW_TESTS=1) runs when the
# Debian test guest is built: about 5 minutes cold, instant once cached.
test: check-deps kube-apiserver
	slow=$$($(GO) run $(GOFLAGS_TAGS) ./cmd/podvm-testenv debian >/dev/null && echo 1); \
	PODVM_SLOW_TESTS=$$slow $(GO) test $(GOFLAGS_TAGS) -count=1 -timeout 75m ./...

demo: build
	./scripts/demo.sh

# Every scripts/bench-*.sh compares one hot path with its obvious alternative
# (qemu-img, govc, bare QEMU) in one run and prints the ratio; add a script
# to add a benchmark.
bench: build
	@set -e; for b in scripts/bench-*.sh; do [ -x "$$b" ] || continue; echo "== $$b"; "$$b"; done
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench . -benchtime 1x ./...

# Every Fuzz* target in the repository, one after the other, FUZZTIME each
# (make fuzz FUZZTIME=10m before closing a parser change); prints the
# executions per target.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) FUZZ_TAGS='$(TAGS)' GO=$(GO) ./scripts/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(GOFLAGS_TAGS) ./...

deps:
	./scripts/deps.sh

check-deps:
	@./scripts/deps.sh --check 2>/dev/null || $(MAKE) --no-print-directory deps

clean:
	rm -rf bin demo

# The KubeVirt tests run a real kube-apiserver, built once from
# tools/kube-apiserver into $PODVM_CACHE (~/.cache/podvm-migrate):
# about 8 minutes cold on 2 cores, instant once cached. Building it before
# the tests keeps it from competing with them.
kube-apiserver:
	$(GO) run $(GOFLAGS_TAGS) ./cmd/podvm-testenv kube --build-only

# The real Debian 12 test guest (debootstrap, about 5 minutes cold), cached
# in $PODVM_CACHE/debian by a hash of its recipe.
debian-guest:
	$(GO) run $(GOFLAGS_TAGS) ./cmd/podvm-testenv debian

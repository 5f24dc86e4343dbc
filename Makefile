# strata is built static (CGO_ENABLED=0): the same binary runs as --init inside images without a libc.
# Strata's two entry points for a fresh Debian 12 machine (run as root):
#   make demo   installs what it needs, builds strata, runs the demo
#   make test   installs what it needs, runs every test
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/strata

.PHONY: all build setup demo test test-unit test-race fuzz vet bench clean

all: build

setup:
	@scripts/setup.sh

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/strata

demo: setup build
	@scripts/demo.sh $(BIN)

vet:
	$(GO) vet ./...

# Every test: unit and end-to-end (root-only tests run as root), the race
# detector on the packages with goroutines, and each fuzz target briefly.
test: setup vet
	scripts/test.sh

bench: setup build
	@echo "see bench/*.sh; go benchmarks: go test -run '^$$' -bench . ./internal/..."

clean:
	rm -rf bin

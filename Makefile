# One command for each habit; `bash .ci/run` (CI) starts the Docker engine,
# then runs them in the order of `make ci`.
#
#   make fmt-check   gofmt -l prints nothing
#   make vet         go vet ./...
#   make lint        golangci-lint at a pinned version (installed on first use)
#   make test        fast tier: -short -race, packages in parallel, no engine
#   make test-e2e    engine tier: no -short, two packages at a time, two lanes (needs Docker)
#   make ci          all of the above, in that order

GO ?= go

# golangci-lint is installed through the Go module proxy into bin/ (ignored by
# git), one directory per version, so changing the version reinstalls it.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT_DIR := $(CURDIR)/bin/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)
GOLANGCI_LINT := $(GOLANGCI_LINT_DIR)/golangci-lint

# The engine tier runs, without -short, the packages whose tests the fast
# tier skips some of (Docker engine, node/npm, chromium, port 8883): those
# whose tests call testing.Short() or use internal/testenv, the only ways a
# test skips under -short here. The other packages' tests would only run a
# second time, without -race. Two packages run at a time: tests take turns
# for an engine's module names and each in-process edgeHub has a loopback
# address of its own (internal/testenv/hostlock). internal/e2e, the longest,
# is named first so that it starts first. Narrow it while working, e.g.
# make test-e2e ENGINE_PKGS=./internal/e2e
#
# Two lanes. Tests that put modules on an engine take turns for its module
# names, so one engine runs one such test at a time. When a second engine
# answers at ENGINE2 (`bash .ci/run` starts one: its own socket, state and
# address pool), internal/e2e's long tests (LANE2_TESTS: the soak and the
# leak tests of module mode and the gatherer, which mostly wait) run on it,
# in a second go test process, beside everything else on the first engine;
# its output is printed when it ends. Without a second engine (or with
# ENGINE2=), every test runs on the first, one after another, as before:
# slower, nothing skipped.
#
# Package timeouts are at least twice the longest package's time measured on
# this 2-core machine (README, "Development"): the fast
# tier's longest package takes under 25 s under -race, the engine tier's
# (internal/e2e, first lane) about 4 minutes alone and 7.5 with two
# CPU-bound processes beside it.
ENGINE_PKGS ?= ./internal/e2e $(shell grep -rlE --include='*_test.go' 'testing\.Short\(\)|internal/testenv"|testenv/hostlock"' internal module | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
ENGINE_TIMEOUT ?= 25m
FAST_TIMEOUT ?= 3m
ENGINE2 ?= unix:///run/edge-readiness-engine2/docker.sock
LANE2_TESTS := ^(TestSoak|TestModuleModeLeavesNothingBehind|TestGathererLeavesNothingBehind)$$

.PHONY: ci fmt-check vet lint tools test test-e2e

ci: fmt-check vet lint test test-e2e

fmt-check:
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path '*/node_modules/*' | xargs gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (gofmt -w FILE):"; echo "$$files"; exit 1; fi

vet:
	$(GO) vet ./...

tools: $(GOLANGCI_LINT)

$(GOLANGCI_LINT):
	GOBIN=$(GOLANGCI_LINT_DIR) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

test:
	$(GO) test -short -race -count=1 -parallel 4 -timeout $(FAST_TIMEOUT) ./...

test-e2e:
	@lane2=; \
	case " $(ENGINE_PKGS) " in *" ./internal/e2e "*) \
	  if [ -n "$(ENGINE2)" ] && DOCKER_HOST="$(ENGINE2)" docker version >/dev/null 2>&1; then lane2=yes; \
	  else echo "== engine tier: no second engine answers at ENGINE2=$(ENGINE2): one lane (bash .ci/run starts one)"; fi;; \
	esac; \
	if [ -z "$$lane2" ]; then \
	  echo "$(GO) test -p 2 -count=1 -timeout $(ENGINE_TIMEOUT) $(ENGINE_PKGS)"; \
	  exec $(GO) test -p 2 -count=1 -timeout $(ENGINE_TIMEOUT) $(ENGINE_PKGS); \
	fi; \
	echo "$(GO) test -count=1 -run '^$$' ./internal/e2e  (builds the test binary the two lanes share)"; \
	$(GO) test -count=1 -run '^$$' ./internal/e2e >/dev/null || exit 1; \
	out=$$(mktemp); \
	echo "DOCKER_HOST=$(ENGINE2) $(GO) test -count=1 -timeout $(ENGINE_TIMEOUT) -run '$(LANE2_TESTS)' ./internal/e2e  (second lane: printed when done)"; \
	DOCKER_HOST="$(ENGINE2)" $(GO) test -count=1 -timeout $(ENGINE_TIMEOUT) -run '$(LANE2_TESTS)' ./internal/e2e >"$$out" 2>&1 & lane2=$$!; \
	echo "$(GO) test -p 2 -count=1 -timeout $(ENGINE_TIMEOUT) -skip '$(LANE2_TESTS)' $(ENGINE_PKGS)"; \
	$(GO) test -p 2 -count=1 -timeout $(ENGINE_TIMEOUT) -skip '$(LANE2_TESTS)' $(ENGINE_PKGS); first=$$?; \
	wait $$lane2; second=$$?; \
	echo "== second lane (DOCKER_HOST=$(ENGINE2)):"; cat "$$out"; rm -f "$$out"; \
	[ $$first = 0 ] && [ $$second = 0 ]

# `make sync-testdata SHARED=DIR` refreshes the repository's copies of the check
# catalogs and the real fixtures (testdata/SOURCES.md names where each comes
# from) from a folder holding their originals: DIR/CHECKS*.md and
# DIR/fixtures/real/. Nothing else reads outside the repository.
.PHONY: sync-testdata
sync-testdata:
	@test -n "$(SHARED)" || { echo "sync-testdata: name the folder of the originals: make sync-testdata SHARED=DIR"; exit 2; }
	for f in testdata/CHECKS*.md; do install -m 644 "$(SHARED)/$${f##*/}" "$$f"; done
	for f in testdata/real/*; do install -m 644 "$(SHARED)/fixtures/real/$${f##*/}" "$$f"; done

# Sluice. `make run` starts the app; `make test` runs every test.

GO      ?= go
BIN     ?= bin/sluice
# 0.1.0 on the v0.1.0 tag, 0.1.0-3-gabc1234 after it, 0.1.0-dev+abc1234
# with no v* tag in reach (from the VERSION file): see scripts/version.sh.
VERSION ?= $(shell sh scripts/version.sh)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS  = -s -w -X github.com/sluiceproxy/sluice/app.Version=$(VERSION) -X github.com/sluiceproxy/sluice/app.Commit=$(COMMIT)
# Extra arguments for `make run`, e.g. RUNFLAGS="run --headless --listen 127.0.0.1:9000".
RUNFLAGS ?=

.PHONY: all build run test deps lint cross clean generate test-windows ui-assets

all: build

# On Linux the binary is static: nothing in it needs cgo there (the tray
# speaks D-Bus in Go, names go through Sluice's own resolver), and not
# mapping libc saves about 1.3 MB of resident memory. macOS needs cgo for
# the menu bar.
BUILD_CGO := $(if $(filter linux,$(shell $(GO) env GOOS)),CGO_ENABLED=0,)

build:
	$(BUILD_CGO) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sluice

# The app with the config in the user config dir, which is created from
# the embedded defaults on first run.
run: build
	./$(BIN) $(RUNFLAGS)

# Writes assets/config.toml and docs/configuration.md from the key table
# in app/keys.go; make test fails while they are stale.
generate:
	$(GO) generate ./app

# Every test; the output is go test's (failures, then an ok/FAIL line per
# package), followed by the tests that skipped and why (usually a tool
# `make deps` installs). The exit status is go test's.
test: SHELL := bash
test:
	@set -o pipefail; $(GO) test -race -count=1 -timeout 30m -json ./... | $(GO) run ./scripts/testsummary

# The tools the tests drive (scripts/test-packages.txt), and nothing else.
# Debian and Ubuntu; needs root.
deps:
	apt-get update -qq
	sed 's/#.*//' scripts/test-packages.txt | xargs apt-get install -y -qq --no-install-recommends

# gofmt, go vet (Linux and Windows) and staticcheck (a Go tool in go.mod).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	$(GO) tool staticcheck ./...

# Two Windows executables, for two uses:
#   make cross     bin/sluice-console-windows-amd64.exe: console subsystem,
#                  for a terminal (its log and errors print there) and tests;
#                  double-clicked, it opens a console window beside the tray.
#   make windows   bin/sluice.exe (packaging/packaging.mk): GUI subsystem, icon,
#                  version resources, signed if asked: the one to ship.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/sluice-console-windows-amd64.exe ./cmd/sluice
	@# Without a macOS C toolchain here, darwin is vetted without cgo (the
	@# tray's cgo menu-bar code is the only part left out).
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./...

# Refreshes the dashboard's chart library, uPlot, vendored in assets/ui
# with its licence, from the npm registry (the page loads nothing from
# the network). Pick another release with UPLOT_VERSION=...
UPLOT_VERSION ?= 1.6.32
ui-assets:
	@tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz) && \
	cp $$tmp/package/dist/uPlot.iife.min.js $$tmp/package/dist/uPlot.min.css assets/ui/ && \
	cp $$tmp/package/LICENSE assets/ui/LICENSE.uPlot && \
	printf 'uPlot %s (MIT licence: LICENSE.uPlot), https://github.com/leeoniya/uPlot\nfrom the npm registry by make ui-assets (npm pack uplot@%s): dist/uPlot.iife.min.js, dist/uPlot.min.css\n' $(UPLOT_VERSION) $(UPLOT_VERSION) > assets/ui/VERSIONS && \
	rm -rf $$tmp && cat assets/ui/VERSIONS

clean:
	rm -rf bin dist

-include bench/bench.mk
-include packaging/packaging.mk
-include packaging/windows/wine.mk

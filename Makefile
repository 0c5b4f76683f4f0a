# Sluice. `make run` starts the app; `make test` runs every test.

GO      ?= go
BIN     ?= bin/sluice
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS  = -s -w -X github.com/sluiceproxy/sluice/app.Version=$(VERSION) -X github.com/sluiceproxy/sluice/app.Commit=$(COMMIT)
# Extra arguments for `make run`, e.g. RUNFLAGS="run --headless --listen 127.0.0.1:9000".
RUNFLAGS ?=

.PHONY: all build run test lint cross clean generate

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

test:
	$(GO) test -race -count=1 -timeout 30m ./...

# gofmt, go vet (Linux and Windows) and staticcheck (a Go tool in go.mod).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	$(GO) tool staticcheck ./...

cross:
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/sluice-windows-amd64.exe ./cmd/sluice
	@# Without a macOS C toolchain here, darwin is vetted without cgo (the
	@# tray's cgo menu-bar code is the only part left out).
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./...

clean:
	rm -rf bin dist

-include bench/bench.mk
-include packaging/packaging.mk

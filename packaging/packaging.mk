# Packaging targets, included from the top-level Makefile:
#
#   make package   every package this machine can build (see docs/packaging.md)
#   make deb       dist/sluice_<version>_<arch>.deb
#   make rpm       dist/sluice-<version>.<arch>.rpm
#   make windows   bin/sluice.exe, the Windows executable to ship: GUI subsystem
#                  (no console window), icon, manifest and version resources;
#                  signed when a certificate is given (see sign). `make cross`
#                  builds the console one for terminals and tests instead.
#   make app       dist/Sluice.app (the binary itself only on macOS, see below)
#   make sign      sign $(WIN_EXE) with osslsigncode when SIGN_PFX, or
#                  SIGN_CERT and SIGN_KEY, are set; skipped otherwise
#
# The top Makefile defines VERSION, COMMIT, LDFLAGS and BIN; the defaults
# below only make this file usable on its own (make -f packaging/packaging.mk),
# as the tests in packaging/ do.

VERSION ?= $(shell sh scripts/version.sh)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS ?= -s -w -X github.com/sluiceproxy/sluice/app.Version=$(VERSION) -X github.com/sluiceproxy/sluice/app.Commit=$(COMMIT)
BIN     ?= bin/sluice

# Where packages and intermediate files go.
DIST      ?= dist
PKG_BUILD ?= $(DIST)/build
# The package this Makefile builds binaries from.
MAIN_PKG  ?= ./cmd/sluice
# The Windows build's scratch copy of MAIN_PKG (see the windows target).
WIN_PKG   ?= _winbuild/sluice

NFPM   ?= go tool nfpm
WINRES ?= go tool go-winres

# Linux packages: the binary is built here, static (CGO_ENABLED=0; the Linux
# tray speaks D-Bus in pure Go), for PKG_ARCH.
PKG_ARCH    ?= $(shell go env GOARCH)
PKG_VERSION  = $(shell sh packaging/version.sh pkg '$(VERSION)')
PKG_BIN      = $(PKG_BUILD)/linux-$(PKG_ARCH)/sluice
DEB          = $(DIST)/sluice_$(PKG_VERSION)_$(PKG_ARCH).deb
RPM          = $(DIST)/sluice-$(PKG_VERSION).$(PKG_ARCH).rpm

# Windows: amd64, no console window (-H=windowsgui): started from the Start
# menu or at login, a console window would only be in the way.
WIN_EXE     ?= bin/sluice.exe
WIN_VERSION  = $(shell sh packaging/version.sh numeric '$(VERSION)')

# macOS: the .app bundle.
APP          ?= $(DIST)/Sluice.app
DARWIN_ARCH  ?= $(shell go env GOARCH)

# A Mac can build everything; elsewhere the .app would lack its binary, so
# `package` leaves it out (`make app` still assembles the layout).
PACKAGES ?= deb rpm windows $(if $(filter Darwin,$(shell uname -s)),app)

.PHONY: package deb rpm windows app sign linux-bin

package: $(PACKAGES)
	@echo "built:"; for f in $(wildcard $(DEB) $(RPM) $(WIN_EXE) $(APP)); do echo "  $$f"; done

linux-bin:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(PKG_ARCH) go build -trimpath -ldflags "$(LDFLAGS)" -o $(PKG_BIN) $(MAIN_PKG)

$(PKG_BUILD)/sluice.1.gz: packaging/linux/sluice.1
	@mkdir -p $(@D)
	gzip -9 -n -c $< > $@

# nfpm reads PKG_* from the environment (see packaging/linux/nfpm.yaml).
NFPM_ENV = PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' PKG_BIN='$(PKG_BIN)' PKG_BUILD='$(PKG_BUILD)'

deb: linux-bin $(PKG_BUILD)/sluice.1.gz
	$(NFPM_ENV) $(NFPM) pkg --config packaging/linux/nfpm.yaml --packager deb --target '$(DEB)'

rpm: linux-bin $(PKG_BUILD)/sluice.1.gz
	$(NFPM_ENV) $(NFPM) pkg --config packaging/linux/nfpm.yaml --packager rpm --target '$(RPM)'

# go build links every rsrc_windows_amd64.syso in a package's directory
# into windows/amd64 binaries, so the resource object goes into a scratch
# copy of the main package, never into cmd/sluice itself: there it would
# sneak a stale icon or version into later builds, and a `go test ./...`
# compiling cmd/sluice while this runs would see it come and go. The
# leading underscore keeps the copy out of ./... patterns.
windows:
	rm -rf '$(WIN_PKG)' && mkdir -p '$(WIN_PKG)'
	for f in $(MAIN_PKG)/*.go; do case $$f in *_test.go) ;; *) cp "$$f" '$(WIN_PKG)/' ;; esac; done
	$(WINRES) make --in packaging/windows/winres.json --arch amd64 \
		--out '$(WIN_PKG)/rsrc' \
		--product-version '$(VERSION)' --file-version '$(WIN_VERSION)'
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath \
		-ldflags "$(LDFLAGS) -H=windowsgui" -o '$(WIN_EXE)' ./$(WIN_PKG); \
		rc=$$?; rm -rf '$(WIN_PKG)'; rmdir "$$(dirname '$(WIN_PKG)')" 2>/dev/null; exit $$rc
	@sh packaging/windows/sign.sh '$(WIN_EXE)'

# Authenticode signing. Give either SIGN_PFX (and SIGN_PASS if it has a
# password) or SIGN_CERT and SIGN_KEY (PEM or DER); SIGN_TIMESTAMP_URL adds
# an RFC 3161 timestamp (needs network).
sign:
	@sh packaging/windows/sign.sh '$(WIN_EXE)'

# On macOS the binary is built with cgo: the menu bar icon (fyne.io/systray)
# needs Cocoa through cgo. Elsewhere there is no cgo toolchain for darwin,
# and a binary cross-built without cgo would have no menu bar icon: with
# LSUIElement set, that app would run invisibly. So off a Mac, `make app`
# assembles the bundle layout without Contents/MacOS/sluice and says so.
app:
	@if [ "$$(uname -s)" = Darwin ]; then \
		CGO_ENABLED=1 GOOS=darwin GOARCH=$(DARWIN_ARCH) go build -trimpath -ldflags "$(LDFLAGS)" \
			-o $(PKG_BUILD)/darwin-$(DARWIN_ARCH)/sluice $(MAIN_PKG) || exit 1; \
		bin=$(PKG_BUILD)/darwin-$(DARWIN_ARCH)/sluice; \
	else \
		echo "app: the macOS binary needs cgo for the menu bar icon, so only a Mac can build it;"; \
		echo "app: assembling $(APP) without Contents/MacOS/sluice (run make app on a Mac for the full bundle)."; \
		bin=; \
	fi; \
	sh packaging/darwin/mkapp.sh -v '$(VERSION)' -o '$(APP)' $${bin:+-b "$$bin"}

# Benchmarks. Included by the top-level Makefile.
#
#   make bench        Go micro-benchmarks, the full load test, then the feature
#                     stages below (~25 min, root)
#   make bench-quick  micro-benchmarks at 100 iterations, then a one-round load test (~3 min)
#   make bench-parents  Sluice in front of squid and microsocks against each alone,
#                     10k rules against none (issue 13, ~3 min)
#   make bench-cache  cache hits against nginx proxy_cache and squid; a collapsed miss (~3 min)
#   make bench-inspect  inspected HTTPS against mitmproxy and a blind tunnel (~2 min)
#   make soak         10 minutes of mixed load with faults through Sluice (not in CI);
#                     SOAK_DURATION=2m shortens it, SOAKFLAGS passes flags to bin/soak
#
# The load test installs nginx-light, wrk, privoxy, tinyproxy and squid
# with apt-get when they are missing, and writes its report to
# bench/results/latest.md. BENCHFLAGS passes flags to it, e.g.
#   make bench BENCHFLAGS="-targets sluice,privoxy -rounds 5"

LOADBENCH      ?= bin/loadbench
BENCHFLAGS     ?=
# Every package with benchmarks; packages without them cost a compile only.
BENCH_PKGS     ?= ./...

SOAK           ?= bin/soak
SOAK_DURATION  ?= 10m
SOAKFLAGS      ?=

.PHONY: bench bench-quick bench-micro bench-load bench-parents bench-cache bench-inspect bench-profile loadbench soak soakbin

loadbench:
	$(GO) build -o $(LOADBENCH) ./bench/cmd/loadbench

soakbin:
	$(GO) build -o $(SOAK) ./bench/cmd/soak

# Exits non-zero when a check fails; the report also goes to bench/results/soak.md.
soak: build soakbin
	./$(SOAK) -sluice $(BIN) -duration $(SOAK_DURATION) $(SOAKFLAGS)

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS)

bench-load: build loadbench
	./$(LOADBENCH) -sluice $(BIN) $(BENCHFLAGS)

bench: bench-micro bench-load bench-parents bench-cache bench-inspect

# The upstream-proxy stage alone; BENCHFLAGS as for bench-load (-quick,
# -rounds, -big-mb). The binary columns run the built Sluice.
bench-parents: build loadbench
	./$(LOADBENCH) parents -sluice $(BIN) $(BENCHFLAGS)

bench-cache: build
	$(GO) run ./bench/cmd/cachebench -sluice $(BIN)

bench-inspect:
	$(GO) run ./bench/cmd/inspectbench

bench-quick: build loadbench
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 100x $(BENCH_PKGS)
	./$(LOADBENCH) -quick -sluice $(BIN) $(BENCHFLAGS)

# CPU profiles of Sluice under load: an unstripped build, profiled with
# perf (linux-perf) during the first round; reports in bench/results/profiles.
bench-profile: loadbench
	$(GO) build -o bin/sluice-prof ./cmd/sluice
	./$(LOADBENCH) -quick -sluice bin/sluice-prof -targets sluice -profile bench/results/profiles -out bench/results/profile-run.md $(BENCHFLAGS)

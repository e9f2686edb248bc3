# fibre — the two commands an operator needs: `make run` and `make test`.
# Each target installs what it needs on a fresh Debian 12 machine (as root, with apt)
# when it is missing; nothing here assumes a prepared host.

SHELL := /bin/bash
CARGO ?= cargo
DATA := data

# Debian packages the build, the tests and the demo need.
APT_PACKAGES := dpdk dpdk-dev libdpdk-dev dpdk-doc libclang-dev clang pkg-config iproute2 iputils-ping \
	iperf3 traceroute frr gnuplot-nox shellcheck lua5.4 prometheus

.PHONY: all deps data build run test bench install clean

all: build

# Install missing system packages (once per machine; a no-op afterwards).
deps:
	@scripts/install-deps.sh $(APT_PACKAGES)

# Route tables used by tests, benchmarks and the demo (never committed).
data: deps
	@scripts/fetch-routes.sh $(DATA)

build: deps
	$(CARGO) build --release --workspace

run: deps data
	scripts/run-router $(DATA)/routeviews.txt

# fibred as a systemd service: the release fibred and fibrectl, fibrectl's shell
# completions, /etc/fibre/fibred.toml (the example, only if there is none) and
# contrib/systemd/fibred.service, then systemctl daemon-reload when systemd runs
# (scripts/install-service; PREFIX=/usr/local, DESTDIR= to stage). It does not
# enable the service: edit the configuration, then systemctl enable --now fibred.
PREFIX ?= /usr/local
install: deps
	$(CARGO) build --release -p control --features dpdk --bins
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install-service

# With DPDK: the bindings, the DPDK port tests (EAL in one process per test file;
# net_tap needs root) and the benches' rte_lpm/rte_fib comparison build.
DPDK_FEATURES := --features dataplane/dpdk,benches/dpdk,control/dpdk

test: deps data
	$(CARGO) fmt --all -- --check
	scripts/check-scripts
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets $(DPDK_FEATURES) -- -D warnings
	FIBRE_DATA=$(CURDIR)/$(DATA) $(CARGO) test --workspace $(DPDK_FEATURES)
	FIBRE_DATA=$(CURDIR)/$(DATA) FIBRE_EXHAUSTIVE=1 $(CARGO) test --release -p fib --test dir24_exhaustive
	# The one-core bench end to end, briefly (fibre, testpmd mac and the floor loops on
	# net_pcap -> net_null, 4 s each): that make bench's script runs on this host.
	L3FWD=0 HUGE=0 CARGO=$(CARGO) scripts/bench-forward-core 4 1 1 1000 256
	# Every fuzz target (fuzz/, cargo-fuzz on stable via RUSTC_BOOTSTRAP=1), 10 s each
	# from its seeds: ~1.5 min, plus the fuzz build (~1 min warm, ~4-6 min cold).
	CARGO=$(CARGO) scripts/fuzz-smoke 10

# The criterion suites (with DPDK's rte_lpm/rte_fib in the same process); one
# forwarding core against testpmd mac and l3fwd on the RouteViews table
# (scripts/bench-forward-core, ~4 min); then fibred end to end against testpmd and
# l3fwd, route churn under load, and the figures in docs/BENCHMARKS.md
# (scripts/bench-forward, ~15 min; BENCH_FORWARD="QUICK=1" for ~3). As root it first
# reserves 8 GiB of 2 MiB hugepages (scripts/host/setup), which DPDK, like an
# operator's host, runs on; BENCH_HUGEPAGES= skips that.
BENCH_FORWARD ?=
BENCH_HUGEPAGES ?= 8G
bench: deps data
	if [ -n "$(BENCH_HUGEPAGES)" ] && [ "$$(id -u)" = 0 ]; then scripts/host/setup --hugepages $(BENCH_HUGEPAGES); fi
	FIBRE_DATA=$(CURDIR)/$(DATA) $(CARGO) bench --workspace $(DPDK_FEATURES)
	TABLE=rv HUGE=auto CARGO=$(CARGO) scripts/bench-forward-core
	env $(BENCH_FORWARD) CARGO=$(CARGO) scripts/bench-forward

clean:
	$(CARGO) clean

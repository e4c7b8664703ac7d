# netlab: build, demo, test, bench, fuzz, install. Every target works on a fresh Debian 12
# machine as root; `make deps` installs what the labs and tests need.

SHELL    := /bin/bash
CARGO    ?= cargo
PREFIX   ?= /usr/local
DEBUG    := target/debug
RELEASE  := target/release
# Every [[bin]] in Cargo.toml.
BINS     := $(shell awk '/^\[\[bin\]\]/{b=1} b && /^name =/{gsub(/"/,"",$$3); print $$3; b=0}' Cargo.toml)
# Tools that open raw sockets get CAP_NET_RAW (and CAP_NET_ADMIN) at install.
CAP_BINS := $(filter netlab-ping netlab-traceroute netlab-synwatch,$(BINS))
# Debian packages the labs, tests and benchmarks use.
DEBS     := iproute2 nftables procps iputils-ping traceroute iputils-tracepath \
            bind9-dnsutils knot knot-dnsutils nginx-light curl wrk hping3 tcpdump \
            hyperfine libcap2-bin bc bsdextrautils python3 time linux-perf

.PHONY: all build release deps test lint demo bench fuzz install clean

all: build

build:
	$(CARGO) build --bins

release:
	$(CARGO) build --release --bins

## deps: install the Debian packages that are missing (as root), or say which are.
deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:" $$missing "(sudo make deps installs them)"; exit 0; fi; \
	echo "installing:" $$missing; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## test: unit and namespace integration tests. Afterwards nothing of ours may be left: the
## sweep removes any test instance a killed test left behind, and fails the run if it found one.
test: deps lint
	$(CARGO) build --bins
	@status=0; $(CARGO) nextest run --no-fail-fast || status=$$?; \
	if [ "$$(id -u)" = 0 ]; then tests/sweep.sh $(DEBUG)/netlab || status=1; fi; \
	exit $$status

## demo: bring up the demo topology, run every finished tool in it, tear it down.
demo: release
	@NETLAB_BIN=$(RELEASE) labs/demo/demo.sh

## bench: side-by-side figures against the reference tools, as one table.
bench: deps release
	@NETLAB_BIN=$(RELEASE) tests/bench/run.sh

## fuzz: every fuzz target for a bounded time (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 30
fuzz:
	@tests/fuzz.sh $(FUZZ_SECONDS)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/netlab \
	  $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for b in $(BINS); do install -m 755 $(RELEASE)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for b in $(CAP_BINS); do setcap cap_net_raw,cap_net_admin+ep $(DESTDIR)$(PREFIX)/bin/$$b; done
	rm -rf $(DESTDIR)$(PREFIX)/share/netlab/labs && cp -r labs $(DESTDIR)$(PREFIX)/share/netlab/labs
	gen=$$(mktemp -d) && for b in $(BINS); do NETLAB_GENERATE=$$gen $(RELEASE)/$$b; done && \
	  install -m 644 $$gen/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ && \
	  for b in $(BINS); do \
	    install -m 644 $$gen/completions/$$b.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b; \
	    install -m 644 $$gen/completions/_$$b $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b; \
	    install -m 644 $$gen/completions/$$b.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish; \
	  done && rm -rf $$gen
	@echo "installed: $(BINS) (raw-socket tools got cap_net_raw: $(CAP_BINS)); try: sudo netlab doctor"

clean:
	$(CARGO) clean

# wirelab: build, demo, test, bench, fuzz, install. Every target works on a fresh Debian 12
# machine as root; `make deps` installs what the labs and tests need.

SHELL    := /bin/bash
PREFIX   ?= /usr/local
# cargo: on PATH, else rustup's per-user install, which a root shell without a login profile
# and sudo (whose secure_path drops ~/.cargo/bin) do not see: under sudo the invoking user's,
# else our own. Its folder joins PATH so cargo finds nextest, clippy and rustfmt beside it;
# RUSTUP_HOME tells rustup's proxies where that user's toolchains are.
SUDO_HOME := $(if $(SUDO_USER),$(shell getent passwd '$(SUDO_USER)' | cut -d: -f6))
ifeq ($(origin CARGO),undefined)
CARGO    := $(or $(shell command -v cargo 2>/dev/null),$(wildcard $(SUDO_HOME)/.cargo/bin/cargo),$(wildcard $(HOME)/.cargo/bin/cargo),cargo)
endif
ifneq ($(filter /%,$(CARGO)),)
export PATH := $(dir $(CARGO)):$(PATH)
endif
ifneq ($(and $(SUDO_HOME),$(findstring $(SUDO_HOME)/.cargo/bin/,$(CARGO))),)
export RUSTUP_HOME ?= $(SUDO_HOME)/.rustup
endif
DEBUG    := target/debug
RELEASE  := target/release
# Every [[bin]] in Cargo.toml.
BINS     := $(shell awk '/^\[\[bin\]\]/{b=1} b && /^name =/{gsub(/"/,"",$$3); print $$3; b=0}' Cargo.toml)
# Tools that open raw sockets get CAP_NET_RAW (and CAP_NET_ADMIN) at install.
CAP_BINS := $(filter wirelab-ping wirelab-traceroute wirelab-synwatch wirelab-tcp,$(BINS))
# Debian packages the labs, tests and benchmarks use.
DEBS     := iproute2 nftables procps iputils-ping traceroute iputils-tracepath \
            bind9-dnsutils knot knot-dnsutils nginx-light curl wrk hping3 tcpdump \
            hyperfine libcap2-bin bc bsdextrautils python3 time linux-perf \
            apache2 lighttpd busybox gunicorn python3-twisted jq iptables iperf3 \
            bind9 bind9-utils unbound chromium
# Of DEBS, the daemons whose Debian postinst would start them on the host (see deps), as
# PACKAGE or PACKAGE:UNIT when the service has another name (bind9's is named).
HOST_DAEMONS := apache2 lighttpd nginx-light:nginx knot bind9:named unbound unbound:unbound-resolvconf

.PHONY: all build release deps test lint demo bench fuzz install uninstall-netlab clean

all: build

build:
	$(CARGO) build --bins

release:
	$(CARGO) build --release --bins

## deps: install the Debian packages that are missing (as root), or say which are.
## The servers (nginx, apache2, lighttpd, knot, named, unbound) are only ever run inside lab namespaces, with configs rendered into the
## lab's run directory (tests/http/servers). Their postinst scripts would start them on the
## host through invoke-rc.d or deb-systemd-invoke, which both ask /usr/sbin/policy-rc.d
## first: while installing, a policy-rc.d that answers 101 ("forbidden") keeps them stopped
## (removed afterwards unless it was there before). Under systemd, the units we just installed
## are also disabled, so a reboot does not start them either.
deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:" $$missing "(make deps as root, or sudo make deps, installs them)"; exit 0; fi; \
	echo "installing:" $$missing; \
	policy=/usr/sbin/policy-rc.d; ours=; \
	if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' >$$policy && chmod 755 $$policy && ours=1; fi; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	status=$$?; [ -z "$$ours" ] || rm -f $$policy; \
	if [ -d /run/systemd/system ]; then for d in $(HOST_DAEMONS); do \
	  case " $$missing " in *" $${d%%:*} "*) systemctl disable --now $${d#*:}.service >/dev/null 2>&1 || true;; esac; done; fi; \
	exit $$status

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## test: unit and namespace integration tests. Afterwards nothing of ours may be left: the
## sweep removes any test instance a killed test left behind, and fails the run if it found one.
test: deps lint
	$(CARGO) build --bins
	@status=0; $(CARGO) nextest run --no-fail-fast || status=$$?; \
	if [ "$$(id -u)" = 0 ]; then tests/sweep.sh $(DEBUG)/wirelab || status=1; fi; \
	exit $$status

## demo: bring up the demo topology, run every finished tool in it, tear it down. Like test,
## it installs the Debian packages it needs first (knotd, nginx, hping3 ...).
demo: deps release
	@WIRELAB_BIN=$(RELEASE) labs/demo/demo.sh

## bench: side-by-side figures against the reference tools, as one table.
bench: deps release
	@WIRELAB_BIN=$(RELEASE) tests/bench/run.sh

## fuzz: every fuzz target for a bounded time (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 30
fuzz:
	@tests/fuzz.sh $(FUZZ_SECONDS)

## The project was called netlab until 2026-11. An install over an earlier one removes what that
## one installed, so two copies never sit side by side, and only files it can prove are ours: a
## binary holding our man-page switch (NETLAB_GENERATE, which no other program has), a man page
## with our description, and completions clap wrote for a name whose binary or man page was
## ours. Another project's `netlab` (ipspace's, say) stays untouched.
OLD_BINS := netlab netlab-ping netlab-traceroute netlab-dig netlab-http netlab-synwatch
OLD_DESC := Hands\\-on networking labs

## install: the one way to get the tools on PATH: $(PREFIX)/bin is on PATH in a root shell,
## under sudo (secure_path) and for every user. Installs the labs' Debian packages too.
install: deps release uninstall-netlab
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/wirelab \
	  $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for b in $(BINS); do install -m 755 $(RELEASE)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for b in $(CAP_BINS); do setcap cap_net_raw,cap_net_admin+ep $(DESTDIR)$(PREFIX)/bin/$$b; done
	rm -rf $(DESTDIR)$(PREFIX)/share/wirelab/labs && cp -r labs $(DESTDIR)$(PREFIX)/share/wirelab/labs
	gen=$$(mktemp -d) && for b in $(BINS); do WIRELAB_GENERATE=$$gen $(RELEASE)/$$b; done && \
	  install -m 644 $$gen/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ && \
	  for b in $(BINS); do \
	    install -m 644 $$gen/completions/$$b.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b; \
	    install -m 644 $$gen/completions/_$$b $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b; \
	    install -m 644 $$gen/completions/$$b.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish; \
	  done && rm -rf $$gen
	@echo "installed: $(BINS) (raw-socket tools got cap_net_raw: $(CAP_BINS)); try: sudo wirelab doctor"

uninstall-netlab:
	@for b in $(OLD_BINS); do \
	  bin=$(DESTDIR)$(PREFIX)/bin/$$b; man=$(DESTDIR)$(PREFIX)/share/man/man1/$$b.1; ours=; \
	  if [ -f "$$bin" ] && grep -qa NETLAB_GENERATE "$$bin"; then rm -f "$$bin"; ours=1; echo "removed old $$bin"; fi; \
	  if [ -f "$$man" ] && grep -q '$(OLD_DESC)' "$$man"; then rm -f "$$man"; ours=1; echo "removed old $$man"; fi; \
	  [ -n "$$ours" ] || continue; \
	  f=$(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b; \
	  [ -f "$$f" ] && grep -q "^_$$(echo $$b | sed 's/-/__/g')()" "$$f" && rm -f "$$f"; \
	  f=$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b; \
	  [ -f "$$f" ] && grep -q "^#compdef $$b\$$" "$$f" && rm -f "$$f"; \
	  f=$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish; \
	  [ -f "$$f" ] && grep -q "^complete -c $$b " "$$f" && rm -f "$$f"; \
	done; true

clean:
	$(CARGO) clean

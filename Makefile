# acmectl — plain Makefile. `make` builds ./acmectl on libacme.a; `make check` runs
# every test against private servers; `make V=1` shows full commands.

# The version: `git describe` of the newest vX.Y.Z tag in a git checkout
# (v0.2.0-3-gabc becomes 0.2.0-3-gabc), else the VERSION file that
# `make dist` writes into its tarball (line 1 the version, line 2 the
# revision), else BASE_VERSION.
BASE_VERSION := 0.1.0
IN_GIT      := $(wildcard .git)
VERSION     := $(or $(if $(IN_GIT),$(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null | sed 's/^v//')),$(shell sed -n 1p VERSION 2>/dev/null),$(BASE_VERSION))
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

CC      ?= cc
PKGS    := libpq hiredis jansson libcurl libssl libcrypto inih ncursesw libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv

GIT_REV    := $(or $(if $(IN_GIT),$(shell git rev-parse --short=12 HEAD 2>/dev/null)),$(shell sed -n 2p VERSION 2>/dev/null),unknown)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -I. $(PKG_CFLAGS) -MMD -MP
LDFLAGS ?=
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

# Quiet rules unless V=1.
ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

BUILD      ?= build
CORE_SRC   := $(sort $(wildcard core/*.c))
CMD_SRC    := $(sort $(wildcard cmd/*.c))
TUI_SRC    := $(sort $(wildcard tui/*.c))
MIGRATIONS := $(sort $(wildcard core/migrations/*.sql))
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations_data.o
APP_OBJ    := $(CMD_SRC:%.c=$(BUILD)/%.o) $(TUI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Test helper programs (tests/helpers/*.c): drivers the integration tests and
# benches run, linked with libacme and never shipped in the binary. Tests find
# them in $ACME_HELPERS (build/tests/helpers).
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

.PHONY: all clean check unit integration helpers asan install uninstall demo bench lint deps man-keys valgrind-unit soak
all: acmectl

deps:
	$(Q)packaging/install-deps

# The KEYS section of acmectl-tui(1) is the TUI's key table (tui/keys.c);
# t6105 fails when they differ, and this rewrites the page from the table.
man-keys: acmectl
	$(Q){ sed -n '1,/^\.\\" BEGIN KEYS/p' man/acmectl-tui.1; ./acmectl tui --keys=man; \
	  sed -n '/^\.\\" END KEYS/,$$p' man/acmectl-tui.1; } >man/acmectl-tui.1.tmp && \
	  mv man/acmectl-tui.1.tmp man/acmectl-tui.1

acmectl: $(BUILD)/acmectl
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/acmectl: $(APP_OBJ) $(BUILD)/libacme.a
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(APP_OBJ) $(BUILD)/libacme.a $(PKG_LIBS) $(ALL_LDFLAGS)

$(BUILD)/libacme.a: $(CORE_OBJ)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The version object is rebuilt when the version or the revision changes.
$(BUILD)/core/version.o: EXTRA_CFLAGS += -DACME_VERSION='"$(VERSION)"' \
	-DACME_GIT_REV='"$(GIT_REV)"' -DACME_BUILD_DATE='"$(BUILD_DATE)"'
$(BUILD)/core/version.o: $(BUILD)/gen/git-rev
$(BUILD)/gen/git-rev: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION) $(GIT_REV)' | cmp -s - $@ || echo '$(VERSION) $(GIT_REV)' > $@
FORCE:

# Migrations are embedded: a generated C file holds each file's bytes.
$(BUILD)/gen/migrations_data.c: $(MIGRATIONS) core/migrations/embed.sh
	@mkdir -p $(dir $@)
	$(quiet) GEN $@
	$(Q)sh core/migrations/embed.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/migrations_data.o: $(BUILD)/gen/migrations_data.c
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Unit tests: cmocka programs linked against libacme.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libacme.a
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libacme.a $(PKG_LIBS) -lcmocka $(ALL_LDFLAGS)

# Test helper programs, linked like the unit tests (without cmocka).
$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libacme.a
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libacme.a $(PKG_LIBS) $(ALL_LDFLAGS)

helpers: $(HELPER_BIN)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "# $$t"; $$t; done

integration: acmectl helpers
	$(Q)ACME_HELPERS=$(CURDIR)/$(BUILD)/tests/helpers tests/lib/run-tests $(T)

check:
	$(Q)packaging/install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory fuzz-replay
	$(Q)$(MAKE) --no-print-directory integration

# ASan + UBSan build in its own directory, then the whole suite on it: the
# unit tests built and run with the sanitizers, then the integration tests on
# build-asan/acmectl (T= narrows the integration tests, as for check).
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=build-asan CFLAGS='-O1 -g -fno-omit-frame-pointer' \
	EXTRA_CFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all' \
	EXTRA_LDFLAGS='-fsanitize=address,undefined'

asan:
	$(Q)$(ASAN_MAKE) build-asan/acmectl
	@echo "built build-asan/acmectl; run the suite on it with: make asan-check"

asan-check: asan
	$(Q)ASAN_OPTIONS=detect_leaks=1 $(ASAN_MAKE) unit
	$(Q)$(ASAN_MAKE) helpers
	$(Q)ACMECTL=$(CURDIR)/build-asan/acmectl ACME_HELPERS=$(CURDIR)/build-asan/tests/helpers \
		ASAN_OPTIONS=detect_leaks=1 tests/lib/run-tests $(T)

# The unit tests under valgrind on the plain build: an invalid access, an
# uninitialised read or a leak fails the run.
VALGRIND = valgrind -q --leak-check=full --error-exitcode=1
valgrind-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "# valgrind $$t"; $(VALGRIND) $$t >/dev/null; done

demo:
	$(Q)packaging/install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./tests/lib/demo.sh

bench: all helpers
	$(Q)tests/bench/run

# The soak under random faults (tests/soak/run): DURATION=10m (s, m or h),
# SOAK_SEED=N replays a fault schedule; exits non-zero on any anomaly.
DURATION ?= 10m
soak: all
	$(Q)DURATION=$(DURATION) tests/soak/run

# Fails on any mandoc or shellcheck warning (shellcheck must be installed).
# packaging/*.mk add their own scripts to LINT_SH (expanded when lint runs).
LINT_SH := packaging/install-deps tests/lib/*.sh tests/lib/run-tests tests/lib/run-one \
	tests/t/*.sh tests/bench/*.sh tests/bench/tools/*.sh tests/bench/run
lint: all
	$(Q)for m in man/*.[1-8]; do mandoc -T lint -W warning $$m || exit 1; done
	$(Q)shellcheck -S warning $(LINT_SH)

install: acmectl
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 acmectl $(DESTDIR)$(BINDIR)/acmectl
	for m in man/*.1; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in man/*.5; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done; true
	for m in man/*.8; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done; true
	for m in man/*.7; do [ -e "$$m" ] && install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/$${m##*/}; done; true
	install -m 0644 completions/acmectl.bash $(DESTDIR)$(BASHCOMPDIR)/acmectl
	install -m 0644 completions/_acmectl $(DESTDIR)$(ZSHCOMPDIR)/_acmectl
	install -m 0644 completions/acmectl.fish $(DESTDIR)$(FISHCOMPDIR)/acmectl.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/acmectl $(DESTDIR)$(BASHCOMPDIR)/acmectl \
		$(DESTDIR)$(ZSHCOMPDIR)/_acmectl $(DESTDIR)$(FISHCOMPDIR)/acmectl.fish
	for m in man/*.[1578]; do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done

clean:
	rm -rf build build-asan build-fuzz acmectl

# Packaging targets (issue 14) live beside what they build: packaging/*.mk
# (deb and dist, container images and compose, Kubernetes, the CI recipe).
include $(sort $(wildcard packaging/*.mk))
include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD) \( -path $(BUILD)/deb -o -path $(BUILD)/dist \) -prune -o -name '*.d' -type f -print 2>/dev/null)

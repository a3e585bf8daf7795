# tests/fuzz/fuzz.mk — libFuzzer targets (included by the Makefile).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS='cron url']
#
# builds libacme with clang, -fsanitize=fuzzer-no-link,address,undefined into
# build-fuzz/, links each tests/fuzz/fuzz_<name>.c into build-fuzz/fuzz_<name>,
# and runs each for FUZZ_SECONDS on tests/fuzz/corpus/<name>/ (the committed
# seeds and regression inputs) plus build-fuzz/corpus/<name>/ (what it found
# so far, kept out of git). A crash, a leak, a failed CHECK() or a timeout
# fails the run and names the reproducer (tests/fuzz/run).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
# clang does not know gcc's -Wformat-truncation
FUZZ_MAKE     = $(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	CFLAGS='-O1 -g -fno-omit-frame-pointer -Wno-unknown-warning-option' \
	EXTRA_CFLAGS='-fsanitize=fuzzer-no-link $(FUZZ_SAN)'

.PHONY: fuzz fuzz-build fuzz-bins fuzz-replay
fuzz: fuzz-build
	$(Q)tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Every committed input once, no mutation: the regression cases of past
# findings, deterministic (make check runs it).
fuzz-replay: fuzz-build
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		build-fuzz/fuzz_$$t -runs=0 tests/fuzz/corpus/$$t >build-fuzz/replay-$$t.log 2>&1 || \
			{ tail -n 20 build-fuzz/replay-$$t.log; echo "fuzz-replay: $$t failed" >&2; exit 1; }; \
		echo "fuzz-replay $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs ok"; \
	done

fuzz-build:
	+$(Q)$(FUZZ_MAKE) fuzz-bins

# Only meaningful inside FUZZ_MAKE (BUILD=build-fuzz, CC=clang).
fuzz-bins: $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build-fuzz/libacme.a
	$(quiet) FUZZ $@
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< build-fuzz/libacme.a $(PKG_LIBS)

# tests/fuzz/run is linted with the other scripts
LINT_SH += tests/fuzz/run

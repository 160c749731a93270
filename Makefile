# augur - top-level, non-recursive Makefile.
#
#   make            build build/augur and build/augurd (optimised)
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make bench      install what is missing, build optimised, run the benchmarks
#   make run        install what is missing, build, run augurd on the embedded default
#   make install    install binaries and config under $(DESTDIR)$(PREFIX)
#   make clean      remove build/
#
#   LSTM=auto|1|0   build the libtorch LSTM predictor (auto: when libtorch-dev is installed)

CC      ?= gcc
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
BUILD   := build
ASAN    := $(BUILD)/asan

# Debian packages needed to build and test; installed by `make deps` only when missing.
BUILD_PKGS := gcc make pkg-config libisal-dev libinih-dev libssl-dev libzstd-dev zstd \
              libcunit1-dev libmicrohttpd-dev libxml2-dev libhiredis-dev libfuse3-dev fuse3 \
              libsystemd-dev libtorch-dev libopenblas0-pthread
TEST_PKGS  := python3 xxd clang libclang-rt-14-dev redis-server python3-pytest python3-boto3 \
              python3-requests awscli s3cmd libs3-2 fuse3 attr prometheus

PKGS := inih libisal openssl libzstd libmicrohttpd libxml-2.0 hiredis fuse3 libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CUNIT_LIBS := $(shell pkg-config --libs cunit 2>/dev/null || echo -lcunit)

# The LSTM predictor: predictor/lstm_shim.cc, the only C++, over libtorch (Debian's libtorch-dev
# has no pkg-config file). It is built once, without sanitizers (libtorch is not instrumented),
# into build/liblstm_shim.so, which augur and augurd dlopen only when an lstm model is asked
# for, and build/liblstm_shim.a, which the shim's own test and bench link.
LSTM      ?= auto
TORCH_INC := /usr/include/torch/csrc/api/include
HAVE_LSTM := $(if $(filter auto,$(LSTM)),$(if $(wildcard $(TORCH_INC)),1,0),$(LSTM))
LSTM_OBJ  := $(BUILD)/obj/predictor/lstm_shim.o
ifeq ($(HAVE_LSTM),1)
LSTM_DEFS := -DAUGUR_HAVE_LSTM=1 -DAUGUR_LSTM_SHIM_BUILT='"$(CURDIR)/$(BUILD)/liblstm_shim.so"'
LSTM_LIB  := $(BUILD)/liblstm_shim.a
LSTM_SO   := $(BUILD)/liblstm_shim.so
# Loading libtorch costs a process about 0.7 s and 165 MB (1.7 s, 340 MB under ASan) before
# main: --as-needed keeps it out of programs that never reach the shim.
LSTM_LDLIBS := -Wl,--push-state,--as-needed -ltorch_cpu -lc10 -lstdc++ -Wl,--pop-state
else
LSTM_LIB  :=
LSTM_SO   :=
LSTM_DEFS :=
LSTM_LDLIBS :=
endif
# -isystem keeps warnings from torch's headers out of -Werror and them out of the .d files.
CXXFLAGS_SHIM := -std=c++17 -O2 -g1 -fPIC -Wall -Wextra -Werror -fvisibility=hidden \
                 -fvisibility-inlines-hidden -I. -isystem $(TORCH_INC) -MMD -MP

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CSTD    := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
CFLAGS_COMMON := $(CSTD) $(WARN) -I. $(PKG_CFLAGS) $(LSTM_DEFS) -MMD -MP -pthread
CFLAGS_REL  := $(CFLAGS_COMMON) -O2 -g
CFLAGS_ASAN := $(CFLAGS_COMMON) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDLIBS  := $(PKG_LIBS) -pthread -lm -ldl

# Every C object depends on this file, which changes only when HAVE_LSTM does, so switching
# LSTM rebuilds what was compiled with the other -DAUGUR_HAVE_LSTM.
LSTM_STAMP := $(BUILD)/lstm-config
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(LSTM_STAMP) 2>/dev/null)" = "$(HAVE_LSTM)" ] || \
	echo $(HAVE_LSTM) > $(LSTM_STAMP); })

# Library code: every .c in the component folders (each folder's own files; dependencies point
# one way, cmd -> fuse, gateway -> cache -> predictor, backend -> common).
LIB_DIRS := common backend predictor cache gateway fuse
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CMD_SRC  := $(filter-out cmd/augur.c cmd/augurd.c,$(wildcard cmd/*.c))

TEST_SRC  := $(wildcard tests/*/test_*.c)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_BINS := $(patsubst tests/%.c,$(ASAN)/tests/%,$(TEST_SRC))

BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

LIB_OBJ      := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIB_OBJ_ASAN := $(patsubst %.c,$(ASAN)/obj/%.o,$(LIB_SRC))
CMD_OBJ      := $(patsubst %.c,$(BUILD)/obj/%.o,$(CMD_SRC))
CMD_OBJ_ASAN := $(patsubst %.c,$(ASAN)/obj/%.o,$(CMD_SRC))

.PHONY: all test bench run install clean deps deps-test format check-cli unit-tests fuzz e2e-tests \
        deb rpm check-packaging deps-packaging \
        check-fuse check-nolstm \
        deps-node \
        fuzz-short
.DEFAULT_GOAL := all

all: $(BUILD)/augur $(BUILD)/augurd

# ---- objects -------------------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(LSTM_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) -c $< -o $@

$(ASAN)/obj/%.o: %.c $(LSTM_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -c $< -o $@

$(LSTM_STAMP):
	@mkdir -p $(dir $@)
	echo $(HAVE_LSTM) > $@

# About 20 s and 1.25 GB of compiler memory: one translation unit, compiled once.
$(LSTM_OBJ): predictor/lstm_shim.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_SHIM) -c $< -o $@

$(BUILD)/liblstm_shim.a: $(LSTM_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblstm_shim.so: $(LSTM_OBJ)
	$(CXX) -shared -o $@ $^ -Wl,--no-as-needed -ltorch_cpu -lc10

$(BUILD)/libaugur.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ASAN)/libaugur.a: $(LIB_OBJ_ASAN)
	@rm -f $@
	ar rcs $@ $^

# ---- programs ------------------------------------------------------------------------------
# The programs dlopen the shim, so it is an order-only prerequisite, never linked.
$(BUILD)/augur: $(BUILD)/obj/cmd/augur.o $(CMD_OBJ) $(BUILD)/libaugur.a | $(LSTM_SO)
	$(CC) $(CFLAGS_REL) -o $@ $^ $(LDLIBS)

$(BUILD)/augurd: $(BUILD)/obj/cmd/augurd.o $(CMD_OBJ) $(BUILD)/libaugur.a | $(LSTM_SO)
	$(CC) $(CFLAGS_REL) -o $@ $^ $(LDLIBS)

$(ASAN)/augur: $(ASAN)/obj/cmd/augur.o $(CMD_OBJ_ASAN) $(ASAN)/libaugur.a | $(LSTM_SO)
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(LDLIBS)

$(ASAN)/augurd: $(ASAN)/obj/cmd/augurd.o $(CMD_OBJ_ASAN) $(ASAN)/libaugur.a | $(LSTM_SO)
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(LDLIBS)

# ---- tests ---------------------------------------------------------------------------------
TEST_SUPPORT_OBJ := $(patsubst %.c,$(ASAN)/obj/%.o,$(TEST_SUPPORT))

# The shim's own test links it statically; --as-needed keeps libtorch out of the others.
$(ASAN)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(ASAN)/libaugur.a $(LSTM_LIB) $(LSTM_STAMP) \
		| $(LSTM_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -Itests -o $@ $< $(TEST_SUPPORT_OBJ) $(ASAN)/libaugur.a $(LSTM_LIB) \
		$(LDLIBS) $(LSTM_LDLIBS) $(CUNIT_LIBS)

# The test binaries stop at the first failing suite file; all are run, failures summed.
unit-tests: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
		echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp $$t || fail=$$((fail+1)); \
	done; \
	if [ $$fail -ne 0 ]; then echo "$$fail test program(s) failed"; exit 1; fi

# The predictor, cache and replay tests again in a build without libtorch (LSTM=0), in its
# own build directory so the main build is not rebuilt.
NOLSTM_TESTS := predictor/test_predictor cache/test_cache cache/test_policy cache/test_trace
check-nolstm:
	$(MAKE) BUILD=$(BUILD)/nolstm LSTM=0 \
		$(addprefix $(BUILD)/nolstm/asan/tests/,$(NOLSTM_TESTS))
	@fail=0; for t in $(NOLSTM_TESTS); do \
		echo "== LSTM=0 $$t"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp $(BUILD)/nolstm/asan/tests/$$t || fail=1; \
	done; exit $$fail

check-cli: $(ASAN)/augur $(ASAN)/augurd
	AUGUR_BIN=$(CURDIR)/$(ASAN)/augur AUGURD_BIN=$(CURDIR)/$(ASAN)/augurd \
	AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash tests/cli/run_cli_tests.sh

# ---- fuzzing (clang's libFuzzer) ---------------------------------------------------------
FUZZ_SRC := $(wildcard common/*.c) gateway/target.c gateway/s3xml.c \
            $(filter-out gateway/auth_glue.c,$(wildcard gateway/auth_*.c))
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. $(PKG_CFLAGS) -g -O1 \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(BUILD)/fuzz/fuzz_request: tests/fuzz/fuzz_request.c $(FUZZ_SRC) $(wildcard gateway/*.h common/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_request.c $(FUZZ_SRC) $(LDLIBS)

# A corpus of our own seeds, grown in build/ (never committed back automatically).
fuzz-short: $(BUILD)/fuzz/fuzz_request
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=$(BUILD)/fuzz/ \
		-print_final_stats=1 $(BUILD)/fuzz/corpus tests/fuzz/corpus

FUZZ_SECONDS ?= 30
fuzz:
	$(MAKE) fuzz-short FUZZ_SECONDS=900

# End to end: real augurd processes, real Redis, real S3 clients.
e2e-tests: $(ASAN)/augurd $(ASAN)/augur deps-node
	AUGURD_BIN=$(CURDIR)/$(ASAN)/augurd AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
		bash tests/cache/run_e2e.sh
	AUGURD_BIN=$(CURDIR)/$(ASAN)/augurd AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
		bash tests/gateway/run_e2e.sh
	AUGURD_BIN=$(CURDIR)/$(ASAN)/augurd AUGUR_BIN=$(CURDIR)/$(ASAN)/augur \
	AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/admin

# Node.js for the AWS SDK for JavaScript v3 test: Debian's packages only when none is there
# (a NodeSource nodejs already brings npm), then the pinned SDK from the npm registry.
deps-node:
	@command -v node >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs; }
	@command -v npm >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; }
	@test -d tests/gateway/e2e/js/node_modules/@aws-sdk/client-s3 || \
		npm ci --prefix tests/gateway/e2e/js --no-audit --no-fund

# The workload part runs the 2 GiB file and the 100,000-entry directory with the optimised
# build (ASan would measure its own memory and take minutes); the rest under ASan.
check-fuse: $(ASAN)/augur $(ASAN)/augurd $(BUILD)/augur
	AUGUR_BIN=$(CURDIR)/$(ASAN)/augur AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash tests/fuse/run_fuse_tests.sh
	AUGURD_BIN=$(CURDIR)/$(ASAN)/augurd AUGUR_BIN=$(CURDIR)/$(ASAN)/augur \
	AUGUR_REL_BIN=$(CURDIR)/$(BUILD)/augur AUGUR_TEST_TMP=$(CURDIR)/$(ASAN)/tmp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash tests/fuse/run_fuse_workload.sh

test: deps-test
	$(MAKE) unit-tests
	$(MAKE) check-nolstm
	$(MAKE) check-cli
	$(MAKE) check-fuse
	$(MAKE) e2e-tests
	$(MAKE) check-packaging
	$(MAKE) fuzz-short

# ---- benchmarks ----------------------------------------------------------------------------
$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libaugur.a $(LSTM_LIB) $(LSTM_STAMP) | $(LSTM_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) -o $@ $< $(BUILD)/libaugur.a $(LSTM_LIB) $(LDLIBS) $(LSTM_LDLIBS)

BENCH_PKGS := nginx redis-server s3fs

bench: deps
	@missing=""; for p in $(BENCH_PKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	$(MAKE) all $(BENCH_BINS)
	bash tests/bench/run_bench.sh

# ---- packages ------------------------------------------------------------------------------
PKG_TOOLS := dpkg-dev binutils lintian rpm

deps-packaging:
	@missing=""; for p in $(PKG_TOOLS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi

deb: all deps-packaging
	bash packaging/build-deb.sh

rpm: all deps-packaging
	bash packaging/build-rpm.sh

# Installs the .deb on this machine, checks it, and purges it again.
check-packaging: all deps-packaging
	bash tests/packaging/run_packaging_tests.sh

# ---- run, install, clean -------------------------------------------------------------------
run: deps
	$(MAKE) all
	bash etc/run-local.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/augur
	install -m 0755 $(BUILD)/augur $(BUILD)/augurd $(DESTDIR)$(PREFIX)/bin/
	if [ -n "$(LSTM_SO)" ]; then install -d $(DESTDIR)$(PREFIX)/lib/augur && \
		install -m 0644 $(LSTM_SO) $(DESTDIR)$(PREFIX)/lib/augur/; fi
	test -e $(DESTDIR)$(SYSCONFDIR)/augur/augur.conf || \
		install -m 0644 etc/augur.conf $(DESTDIR)$(SYSCONFDIR)/augur/augur.conf

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# apt-get only what is missing, so repeated runs cost nothing and need no network.
deps:
	@missing=""; for p in $(BUILD_PKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

deps-test: deps
	@missing=""; for p in $(TEST_PKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

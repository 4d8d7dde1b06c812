# The two commands a new user runs: `make demo` and `make test`.
# Everything else is a building block of those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
SECONDS    ?= 60
MAKEFLAGS  += --no-print-directory
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build test test-asan fuzz demo demo-primes demo-secure demo-pipeline bench bench-quick bench-build soak install clean valgrind

all: build

deps:
	@scripts/install-deps.sh

# Configure once: afterwards `cmake --build` re-runs CMake by itself when a
# CMakeLists.txt or a globbed folder changes, so that a second `make build`
# rebuilds nothing. CMAKE_ARGS given on the command line configure again.
build: deps
	@if [ ! -f $(BUILD)/CMakeCache.txt ] || [ -n "$(CMAKE_ARGS)" ]; then \
	    cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null; fi
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 300

test-asan: deps
	@[ -f $(ASAN_BUILD)/CMakeCache.txt ] || cmake -S . -B $(ASAN_BUILD) -DXMLBUS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 600

# Every fuzz target of tests/fuzz for SECONDS each (docs/reliability.md):
# `make fuzz SECONDS=300`. Needs clang and libFuzzer (install-deps.sh --fuzz).
fuzz:
	@scripts/install-deps.sh --fuzz
	@[ -f $(FUZZ_BUILD)/CMakeCache.txt ] || CC=clang cmake -S . -B $(FUZZ_BUILD) \
	    -DXMLBUS_FUZZ=ON -DXMLBUS_TESTS=OFF -DXMLBUS_JEMALLOC=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(SECONDS)

demo: build
	@scripts/demo.sh $(BUILD)

demo-primes: build
	@scripts/demo-primes.sh $(BUILD)

demo-secure: build
	@scripts/demo-secure.sh $(BUILD)

demo-pipeline: build
	@scripts/demo-pipeline.sh $(BUILD)

# The bench also installs its peer, nats-server and libnats-dev
# (docs/performance.md, "The peer"), and configures again a build folder
# that was configured before libnats was there.
bench-build:
	@scripts/install-deps.sh --bench
	@if [ ! -f $(BUILD)/CMakeCache.txt ] || [ -n "$(CMAKE_ARGS)" ] || \
	    ! grep -q '^LIBNATS_FOUND:INTERNAL=1' $(BUILD)/CMakeCache.txt; then \
	    cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null; fi
	@cmake --build $(BUILD) -j $(JOBS)

bench: bench-build
	@$(BUILD)/bin/xmlbus-bench

bench-quick: bench-build
	@$(BUILD)/bin/xmlbus-bench --quick

# The hello organism on redis under chaos, every message counted
# (docs/reliability.md, "Soak"): `make soak SOAK_MESSAGES=50000`, other
# options in SOAK_ARGS (`xmlbus-bench --soak --help`).
SOAK_MESSAGES ?= 1000000
SOAK_ARGS     ?=
soak: build
	@SOAK_MESSAGES=$(SOAK_MESSAGES) $(BUILD)/bin/xmlbus-bench --soak --json $(BUILD)/soak.json $(SOAK_ARGS)

valgrind: build
	@scripts/valgrind.sh $(BUILD) hello && scripts/valgrind.sh $(BUILD) pipeline

install: build
	@cmake --install $(BUILD)

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

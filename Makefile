# The two commands a new user runs: `make demo` and `make test`.
# Everything else is a building block of those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
MAKEFLAGS  += --no-print-directory
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build test test-asan demo demo-primes bench bench-quick install clean valgrind

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: deps
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 300

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DXMLBUS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 600

demo: build
	@scripts/demo.sh $(BUILD)

demo-primes: build
	@scripts/demo-primes.sh $(BUILD)

bench: build
	@$(BUILD)/bin/xmlbus-bench

bench-quick: build
	@$(BUILD)/bin/xmlbus-bench --quick

valgrind: build
	@scripts/valgrind.sh $(BUILD)

install: build
	@cmake --install $(BUILD)

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD)

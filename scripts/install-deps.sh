#!/usr/bin/env bash
# Installs, from Debian packages, whatever xmlbus needs and the machine lacks.
# Does nothing when everything is present. Uses sudo when not root.
#   scripts/install-deps.sh          what building and testing need
#   scripts/install-deps.sh --fuzz   that, plus what `make fuzz` needs
#   scripts/install-deps.sh --bench  that, plus the peer of `make bench`
#                                    (nats-server and the NATS C client)
set -euo pipefail

PACKAGES=(build-essential cmake pkg-config libxml2-dev libxml2-utils libzmq3-dev
          libhiredis-dev libcunit1-dev libyaml-dev liblmdb-dev uuid-dev libjemalloc-dev
          redis-server procps clang-format)
# clang, and libclang-rt-dev, which pulls the libclang-rt-N-dev of the same
# version: it holds libFuzzer (libclang_rt.fuzzer-x86_64.a) and the
# sanitizer runtimes.
FUZZ_PACKAGES=(clang libclang-rt-dev)
# The peer rows of xmlbus-bench (docs/performance.md, "The peer"): a NATS
# broker and its C client. Not needed to build or test: without them the
# peer rows say "not available".
BENCH_PACKAGES=(nats-server libnats-dev)

case "${1:-}" in
  "") ;;
  --fuzz) PACKAGES+=("${FUZZ_PACKAGES[@]}") ;;
  --bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--fuzz|--bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2

#!/usr/bin/env bash
# `cargo make bench` (README "Performance"): instruction counts under callgrind, the driver's
# event counts on QEMU and the cost of interrupt planning, in one table with each figure
# beside its target; the same figures go to target/bench/summary.json (or
# $CARGO_TARGET_DIR/bench/summary.json). Installs valgrind and QEMU with the igb device if they
# are missing (needs root for apt). Extra arguments go to the bench (--no-callgrind, --no-qemu).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-qemu.sh

if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: valgrind is missing and this is not root: apt-get install valgrind" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends valgrind
fi

# Cargo builds bench targets with unwinding whatever [profile.release] says; the driver ships
# with panic=abort (Cargo.toml), so the bench is built that way too, in its own target
# directory so that the test build's cache stays as it is. The summary still goes to
# <target>/bench/summary.json.
target="${CARGO_TARGET_DIR:-target}"
export VMQNIC_BENCH_OUT="$target/bench"
RUSTFLAGS="-C panic=abort" CARGO_TARGET_DIR="$target/bench-abort" \
    cargo bench --locked --bench perf -- "$@"

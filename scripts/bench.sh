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

cargo bench --locked --bench perf -- "$@"

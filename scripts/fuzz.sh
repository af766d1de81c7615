#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, nightly): every parser of untrusted bytes.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 10; scripts/test.sh runs every target for $FUZZ_SECONDS, 10 by
# default), TARGET among fuzz/fuzz_targets/*.rs (default: all of them). Each target starts
# from its checked-in seeds (fuzz/seeds/<target>/, never written to) and a fresh working
# corpus. A crash, a timeout (an input taking more than 10 s), or a leak fails the run; the
# input is kept in fuzz/artifacts/<target>/. Installs cargo-fuzz from crates.io and the nightly
# toolchain when they are missing, and fails clearly when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "==> installing the nightly toolchain (cargo-fuzz needs it for libFuzzer and ASan)"
    rustup toolchain install nightly --profile minimal || {
        echo "error: no nightly toolchain and 'rustup toolchain install nightly' failed" >&2
        exit 1
    }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install --locked cargo-fuzz || {
        echo "error: cargo-fuzz is missing and 'cargo install --locked cargo-fuzz' failed" >&2
        exit 1
    }
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
fuzz=(cargo +nightly fuzz)
common=(--fuzz-dir fuzz --target-dir "$target_dir")

echo "==> building the fuzz targets (nightly, release with debug assertions, ASan)"
"${fuzz[@]}" build "${common[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    log="$work/$target.log"
    echo "==> $target: ${seconds}s"
    if "${fuzz[@]}" run "${common[@]}" "$target" "$work/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -max_len=8192 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
        grep -E "ERROR|panicked|SUMMARY|Test unit written|artifact" "$log" | head -20 >&2 || true
        tail -n 30 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    corpus=$(find "$work/$target" -type f | wc -l)
    summary+=("$(printf '%-26s %-7s %12s %10s %8s' "$target" "$status" "${runs:-?}" "${rate:-?}" "$corpus")")
done

echo
printf '%-26s %-7s %12s %10s %8s\n' target result executions "execs/s" "new inputs"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "error: fuzz target(s) failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi

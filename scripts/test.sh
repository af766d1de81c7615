#!/usr/bin/env bash
# The project's test command (README "Quick start"): formatting, lints, then every test.
# Installs what the tests need (QEMU with the igb device, cargo-nextest, and for the fuzz step
# the nightly toolchain and cargo-fuzz) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "QEMU with the emulated 82576"
bash scripts/install-qemu.sh
qemu-system-x86_64 --version | head -n1

if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz crate is a workspace of its own (never part of a stable build); it builds on stable.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "doc tests"
cargo test --workspace --doc --locked --quiet

step "tests (cargo nextest: one process per test, because the simulated NDIS is global state)"
cargo nextest run --workspace --locked --no-fail-fast

# Every fuzz target for a short fixed time (installs nightly and cargo-fuzz if missing);
# `cargo make fuzz SECONDS` or `bash scripts/fuzz.sh SECONDS` runs them longer.
step "fuzzing (cargo-fuzz, ${FUZZ_SECONDS:-10} s per target)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"

#!/usr/bin/env bash
# Runs the LoRA header/inspect fuzz target for a bounded time (default 60 s) on its committed
# corpus. Installs cargo-fuzz if missing. libFuzzer needs nightly compiler flags: a nightly
# toolchain is used if installed, else stable with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LIMIT="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    TOOLCHAIN=()
    export RUSTC_BOOTSTRAP=1
fi
# Work on a copy of the corpus so that new inputs do not dirty the committed one.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r fuzz/corpus/lora_header "$WORK/corpus"
cargo "${TOOLCHAIN[@]}" fuzz run lora_header "$WORK/corpus" -- \
    -max_total_time="$SECONDS_LIMIT" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=256

#!/usr/bin/env bash
# Runs the LoRA header/inspect fuzz target for a bounded time (default 60 s) on its committed
# corpus. Installs cargo-fuzz if missing. Stable Rust is enough: no sanitizer is asked for
# (the code under test is safe Rust; the target itself aborts on any allocation over
# 256 MiB, and libFuzzer catches panics, hangs and RSS over 2 GiB). The dev profile keeps the
# build to a few minutes on 2 cores; it still runs thousands of inputs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LIMIT="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# Work on a copy of the corpus so that new inputs do not dirty the committed one.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r fuzz/corpus/lora_header "$WORK/corpus"
cd fuzz
cargo fuzz run --sanitizer none --dev lora_header "$WORK/corpus" -- \
    -max_total_time="$SECONDS_LIMIT" -max_len=65536 -rss_limit_mb=2048 -timeout=10

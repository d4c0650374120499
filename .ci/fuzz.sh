#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 60 s each) from its seeds:
#   lora_header  - the safetensors header parser and `lora inspect` (fuzz/corpus/lora_header)
#   jpeg_scaled  - the preview/lint JPEG decode (fuzz/corpus/jpeg_scaled)
# Built with cargo itself and the coverage flags cargo-fuzz passes (`--sanitizer none`): a fresh
# CI machine would otherwise compile cargo-fuzz first, minutes of the CI budget. Stable Rust is
# enough: no sanitizer is asked for (the code under test is safe Rust; the targets abort on any
# allocation over 256 MiB, and libFuzzer catches panics, hangs and RSS over 2 GiB). The dev
# profile keeps the build to a few minutes on 2 cores; it still runs 400 (JPEG) to 3,000
# (header) inputs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LIMIT="${FUZZ_SECONDS:-60}"
# --target keeps the flags off build scripts and proc macros, as cargo-fuzz does.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
cargo build --manifest-path fuzz/Cargo.toml --target "$HOST" --bins
# Work on copies of the seeds so that new inputs do not dirty the committed ones.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r fuzz/corpus/. "$WORK/"
for target in lora_header jpeg_scaled; do
    mkdir -p "fuzz/artifacts/$target"
    "fuzz/target/$HOST/debug/$target" "$WORK/$target" \
        -max_total_time="$SECONDS_LIMIT" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="fuzz/artifacts/$target/"
done

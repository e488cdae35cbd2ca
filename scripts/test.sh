#!/usr/bin/env bash
# Runs every test: unit and golden tests (CPU, and native wgpu where a Vulkan device exists),
# the CLI tests, then the release build of the library for wasm32.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- weights
scripts/samples.sh
cargo test --release
cargo build --release --lib --target wasm32-unknown-unknown
wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/thinktwice.wasm"
echo "wasm32 release library: $wasm ($(stat -c %s "$wasm") bytes)"

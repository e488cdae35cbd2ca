#!/usr/bin/env bash
# Runs every test: unit and golden tests (CPU, and native wgpu where a Vulkan device exists), the
# CLI tests, the wasm32 build of the library, and the page in headless Chromium (CPU and WebGPU).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- weights
scripts/samples.sh
cargo test --release
scripts/build-web.sh
npm ci --no-audit --no-fund --silent
node --test tests/web/

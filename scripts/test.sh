#!/usr/bin/env bash
# Runs every test: lints (clippy, warnings are errors), unit and golden tests (CPU, and native wgpu
# where a Vulkan device exists), the session and CLI tests, the wasm32 build of the library, and the
# page in headless Chromium (CPU and WebGPU). Under CI=true a test whose data is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy --release --all-targets --quiet -- -D warnings
cargo run --release --quiet -- weights
scripts/samples.sh
cargo test --release
scripts/build-web.sh
npm ci --no-audit --no-fund --silent
node --test tests/web/

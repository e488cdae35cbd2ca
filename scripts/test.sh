#!/usr/bin/env bash
# Runs every test: lints (clippy, warnings are errors), unit and golden tests (CPU, and native wgpu
# where a Vulkan device exists), the session, robustness and CLI tests; then the browser build (once:
# every browser test uses it), the wasm boundary, the page, the widget and the engine's worker in
# headless Chromium (CPU and WebGPU). Under CI=true a test whose data is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy --release --all-targets --quiet -- -D warnings
cargo run --release --quiet -- weights
scripts/samples.sh
cargo test --release
npm ci --no-audit --no-fund --silent
scripts/build-web.sh
node --test tests/web/

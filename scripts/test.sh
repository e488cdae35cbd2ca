#!/usr/bin/env bash
# Runs every test: lints (clippy, warnings are errors), unit and golden tests (CPU, and native wgpu
# where a Vulkan device exists), the session, robustness and CLI tests; the browser build (once:
# every browser test uses it), the wasm boundary, the page, the widget and the engine's worker in
# headless Chromium (CPU and WebGPU). Under CI=true a test whose data is missing fails.
#
# Two cores do more when two things run: the browser build runs beside the native build and tests
# (it needs nothing from them), and clippy beside the browser tests (which keep a core waiting on
# Chromium). The output of each is printed when it is done.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stage() { echo "test.sh: $* (at $(( $(date +%s) - t0 )) s)"; }
background=()
trap 'kill "${background[@]}" 2>/dev/null || true' EXIT
stage browser build started, beside the native stages
npm ci --no-audit --no-fund --silent
web_log=$(mktemp)
scripts/build-web.sh > "$web_log" 2>&1 &
web=$!
background+=("$web")
stage native build, weights and samples
cargo run --release --quiet -- weights
scripts/samples.sh
stage native tests
cargo test --release
stage browser build: waiting for it
if ! wait "$web"; then cat "$web_log"; echo "test.sh: the browser build failed" >&2; exit 1; fi
cat "$web_log"
stage browser tests, clippy beside them
clippy_log=$(mktemp)
cargo clippy --release --all-targets --quiet -- -D warnings > "$clippy_log" 2>&1 &
clippy=$!
background+=("$clippy")
node --test tests/web/
# The site folder a static host gets (hashed engine files, service worker), served as the README
# says (python3 -m http.server): the page loads from it, classifies and explains.
stage site tests
scripts/build-site.sh
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd dist && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
background+=("$!")
for _ in $(seq 50); do python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1])" "http://127.0.0.1:$port/index.html" 2>/dev/null && break; sleep 0.1; done
SITE_URL="http://127.0.0.1:$port/" node --test --test-name-pattern="the sample explained at once|works offline" tests/web/page.test.mjs
stage clippy: waiting for it
if ! wait "$clippy"; then cat "$clippy_log"; echo "test.sh: clippy found problems" >&2; exit 1; fi
cat "$clippy_log"
stage done

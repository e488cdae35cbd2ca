#!/usr/bin/env bash
# The measurement behind profile.web's opt-level (README, "Size and speed"): builds the browser app
# at opt-level 3, "s" and "z" (each with fat LTO, one codegen unit, and wasm-opt at the same level)
# into target/study-<level>/pkg, then times the CPU-wasm engine on each in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
for level in ${LEVELS:-3 s z}; do
  start=$(date +%s)
  CARGO_TARGET_DIR="target/study-$level" CARGO_PROFILE_WEB_OPT_LEVEL="$level" WASM_OPT_LEVEL="$level" \
    WEB_OUT="target/study-$level/pkg" scripts/build-web.sh
  echo "wasm-profiles: opt-level $level built in $(( $(date +%s) - start )) s"
done
for level in ${LEVELS:-3 s z}; do
  PKG="target/study-$level/pkg" node scripts/bench-web.mjs --label "opt-level $level"
done

#!/usr/bin/env bash
# The measurement behind profile.web's opt-levels (README, "Size and speed"): builds the browser app
# with every crate at opt-level 3, "s" and "z" (fat LTO, one codegen unit, wasm-opt at the same
# level) into target/study-<level>/pkg, then times the CPU-wasm engine on each in headless Chromium.
# (The profile that ships keeps the compute kernels at 3 over "z": scripts/build-web.sh and
# `node scripts/bench-web.mjs` measure it.)
set -euo pipefail
cd "$(dirname "$0")/.."
for level in ${LEVELS:-3 s z}; do
  start=$(date +%s)
  value=$([ "$level" = 3 ] && echo 3 || echo "\"$level\"")
  overrides=""
  for p in burn-flex gemm gemm-common gemm-f32 gemm-f16 macerator pulp; do
    overrides+=" --config=profile.web.package.$p.opt-level=$value"
  done
  CARGO_TARGET_DIR="target/study-$level" CARGO_PROFILE_WEB_OPT_LEVEL="$level" WASM_OPT_LEVEL="$level" \
    WEB_OUT="target/study-$level/pkg" WEB_CARGO_ARGS="$overrides" scripts/build-web.sh
  echo "wasm-profiles: opt-level $level built in $(( $(date +%s) - start )) s"
done
for level in ${LEVELS:-3 s z}; do
  PKG="target/study-$level/pkg" node scripts/bench-web.mjs --label "opt-level $level"
done

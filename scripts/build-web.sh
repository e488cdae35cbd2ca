#!/usr/bin/env bash
# Builds the browser app: the library for wasm32 (profile `web`: LTO, SIMD), wasm-bindgen's JS glue
# into pkg/, then binaryen's wasm-opt (the npm package, pinned in package.json: Debian's binaryen
# 108 breaks wasm-bindgen output). WEB_OUT, WASM_OPT_LEVEL, WEB_CARGO_ARGS and
# CARGO_PROFILE_WEB_OPT_LEVEL let scripts/wasm-profiles.sh build the variants it compares.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
# wasm-bindgen-cli goes into a folder of its own outside the clone (kept with the build cache), and
# is called by its path: cargo's own bin folder need not be on PATH (CI's is not).
tools="${THINKTWICE_TOOLS:-$HOME/.cache/thinktwice/tools/wasm-bindgen-$version}"
bindgen="$tools/bin/wasm-bindgen"
if [ "$("$bindgen" --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "build-web: installing wasm-bindgen-cli $version (the version in Cargo.lock) into $tools"
  # Its own build folder (removed after), so that it never waits for the lock of ours.
  cargo install -q --root "$tools" --target-dir "$tools/build" wasm-bindgen-cli --version "$version"
  rm -rf "$tools/build"
fi
[ -x node_modules/binaryen/bin/wasm-opt ] || npm ci --no-audit --no-fund --silent
out="${WEB_OUT:-pkg}"
# shellcheck disable=SC2086 # WEB_CARGO_ARGS is a list of --config=… words
cargo build --profile web --lib --target wasm32-unknown-unknown ${WEB_CARGO_ARGS:-}
target="${CARGO_TARGET_DIR:-target}"
"$bindgen" --target web --remove-name-section --out-dir "$out" --out-name thinktwice \
  "$target/wasm32-unknown-unknown/web/thinktwice.wasm"
# The features Rust 1.95's wasm32 target emits by default, plus SIMD (.cargo/config.toml).
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-reference-types --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-call-indirect-overlong --enable-simd)
wasm="$out/thinktwice_bg.wasm"
before=$(stat -c %s "$wasm")
node node_modules/binaryen/bin/wasm-opt "${features[@]}" "-O${WASM_OPT_LEVEL:-z}" "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
echo "build-web: $wasm: $before bytes from wasm-bindgen, $(stat -c %s "$wasm") after wasm-opt -O${WASM_OPT_LEVEL:-z}, $(gzip -9c "$wasm" | wc -c) gzipped"

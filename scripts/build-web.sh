#!/usr/bin/env bash
# Builds the browser app: the library for wasm32 (profile `web`: LTO, SIMD), wasm-bindgen's JS glue
# into pkg/ (tools/bindgen), then binaryen's wasm-opt -O2 (the npm package, pinned in package.json:
# Debian's binaryen 108 breaks wasm-bindgen output; -O2 runs as fast as -Oz in the browser, in
# three quarters of the time, for 1% more gzip: README, "Size and speed"). WEB_OUT,
# WASM_OPT_LEVEL, WEB_CARGO_ARGS and CARGO_PROFILE_WEB_OPT_LEVEL let scripts/wasm-profiles.sh build
# the variants it compares.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
# The JS glue comes from tools/bindgen: wasm-bindgen's own library (the CLI without its test runner,
# HTTP client and TLS stack: about a fifth of the CLI's build), pinned to the version in Cargo.lock.
pinned=$(sed -n 's/^wasm-bindgen-cli-support = "=\(.*\)"/\1/p' tools/bindgen/Cargo.toml)
if [ "$pinned" != "$version" ]; then
  echo "build-web: Cargo.lock has wasm-bindgen $version but tools/bindgen pins $pinned: set both to one version" >&2
  exit 1
fi
# Installed outside the clone (kept with the build cache), in a folder named after its sources (a
# change to them builds it again), and called by its path: cargo's own bin folder need not be on
# PATH (CI's is not).
sources=$(cat tools/bindgen/Cargo.toml tools/bindgen/Cargo.lock tools/bindgen/src/*.rs | sha256sum | cut -c1-12)
tools="${THINKTWICE_TOOLS:-$HOME/.cache/thinktwice/tools/bindgen-$sources}"
bindgen="$tools/bin/thinktwice-bindgen"
if [ ! -x "$bindgen" ]; then
  echo "build-web: building tools/bindgen (wasm-bindgen $version) into $tools"
  # Its own build folder (removed after), so that it never waits for the lock of ours.
  cargo install -q --locked --root "$tools" --path tools/bindgen --target-dir "$tools/build"
  rm -rf "$tools/build"
fi
[ -x node_modules/binaryen/bin/wasm-opt ] || npm ci --no-audit --no-fund --silent
out="${WEB_OUT:-pkg}"
# shellcheck disable=SC2086 # WEB_CARGO_ARGS is a list of --config=… words
cargo build --profile web --lib --target wasm32-unknown-unknown ${WEB_CARGO_ARGS:-}
target="${CARGO_TARGET_DIR:-target}"
"$bindgen" "$target/wasm32-unknown-unknown/web/thinktwice.wasm" "$out" thinktwice
# The features Rust 1.95's wasm32 target emits by default, plus SIMD (.cargo/config.toml).
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-reference-types --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-call-indirect-overlong --enable-simd)
wasm="$out/thinktwice_bg.wasm"
before=$(stat -c %s "$wasm")
node node_modules/binaryen/bin/wasm-opt "${features[@]}" "-O${WASM_OPT_LEVEL:-2}" "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
echo "build-web: $wasm: $before bytes from wasm-bindgen, $(stat -c %s "$wasm") after wasm-opt -O${WASM_OPT_LEVEL:-2}, $(gzip -9c "$wasm" | wc -c) gzipped"

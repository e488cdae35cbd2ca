#!/usr/bin/env bash
# Builds the browser app: the library for wasm32, then wasm-bindgen's JS glue into pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "build-web: installing wasm-bindgen-cli $version (the version in Cargo.lock)"
  cargo install -q wasm-bindgen-cli --version "$version"
fi
cargo build --release --lib --target wasm32-unknown-unknown
target="${CARGO_TARGET_DIR:-target}"
wasm-bindgen --target web --remove-name-section --out-dir pkg --out-name thinktwice "$target/wasm32-unknown-unknown/release/thinktwice.wasm"
echo "build-web: pkg/thinktwice_bg.wasm ($(stat -c %s pkg/thinktwice_bg.wasm) bytes)"

#!/usr/bin/env bash
# Builds thinktwice, makes the weight files, fetches the sample photos and classifies them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
cargo run --release --quiet -- weights
scripts/samples.sh
cargo run --release --quiet -- classify pkg/samples/chelsea.png pkg/samples/coffee.png pkg/samples/astronaut.png

#!/usr/bin/env bash
# Builds thinktwice (CLI and browser app), makes the weight files, fetches the sample photos,
# classifies them on the command line, then serves the page at http://127.0.0.1:${PORT:-8080}/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
cargo run --release --quiet -- weights
scripts/samples.sh
cargo run --release --quiet -- classify pkg/samples/chelsea.png pkg/samples/coffee.png pkg/samples/astronaut.png
scripts/build-web.sh
port="${PORT:-8080}"
echo "demo: open http://127.0.0.1:$port/ (Ctrl-C stops the server)"
exec python3 -m http.server "$port" --bind 127.0.0.1

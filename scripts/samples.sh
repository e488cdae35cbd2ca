#!/usr/bin/env bash
# Sample photos for the demo and tests, taken from scikit-image's wheel (BSD-3-Clause):
# chelsea (a tabby cat), coffee (an espresso cup), astronaut. Written to pkg/samples/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=pkg/samples
wheel=scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
sha=24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641
if [ -f "$out/chelsea.png" ] && [ -f "$out/coffee.png" ] && [ -f "$out/astronaut.png" ]; then exit 0; fi
mkdir -p "$out" pkg/wheel
if [ ! -f "pkg/wheel/$wheel" ]; then
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --platform manylinux2014_x86_64 \
    scikit-image==0.25.2 -d pkg/wheel || {
    echo "samples: pip could not download scikit-image 0.25.2; install python3-pip or put $wheel in pkg/wheel/" >&2
    exit 1
  }
fi
echo "$sha  pkg/wheel/$wheel" | sha256sum -c --quiet -
python3 - "pkg/wheel/$wheel" "$out" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("chelsea", "coffee", "astronaut"):
        with open(f"{sys.argv[2]}/{name}.png", "wb") as f:
            f.write(z.read(f"skimage/data/{name}.png"))
PY
echo "samples: wrote $out/{chelsea,coffee,astronaut}.png"

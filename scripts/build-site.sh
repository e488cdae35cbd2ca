#!/usr/bin/env bash
# Writes dist/: exactly the files a static host needs for the page, the iframe embed, the widget
# and the bench page (HTML, www/, the wasm and its JS glue, the f16 weights, the manifest, the
# samples, docs/RESULTS.md). The engine's files carry the build's content hash in their names
# (pkg/thinktwice.HASH.js, pkg/thinktwice_bg.HASH.wasm, www/worker.HASH.js), so a browser can never
# pair an old worker with a new wasm; the service worker's cache is named by the same hash.
# Serve it with any static server, e.g. `cd dist && python3 -m http.server`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/thinktwice_bg.wasm ] || scripts/build-web.sh
for f in pkg/thinktwice.js pkg/thinktwice_bg.wasm pkg/manifest.json pkg/efficientnet-lite0.f16.safetensors; do
  [ -f "$f" ] || { echo "build-site: $f is missing (run scripts/build-web.sh and thinktwice weights)" >&2; exit 1; }
done
[ -f pkg/samples/chelsea.png ] || scripts/samples.sh
hash=$(cat pkg/thinktwice_bg.wasm pkg/thinktwice.js www/*.js www/*/*.js | sha256sum | cut -c1-12)
rm -rf dist
mkdir -p dist/pkg/samples dist/www/elements dist/www/page dist/www/render dist/docs
cp index.html embed.html dist/
cp www/*.js www/*.css www/*.html dist/www/
cp www/elements/* dist/www/elements/
cp www/page/* dist/www/page/
cp www/render/* dist/www/render/
cp pkg/manifest.json pkg/efficientnet-lite0.f16.safetensors dist/pkg/
cp pkg/samples/*.png dist/pkg/samples/
cp docs/RESULTS.md dist/docs/
# The engine under hashed names, and every reference to it.
cp pkg/thinktwice_bg.wasm "dist/pkg/thinktwice_bg.$hash.wasm"
sed "s/thinktwice_bg\.wasm/thinktwice_bg.$hash.wasm/g" pkg/thinktwice.js > "dist/pkg/thinktwice.$hash.js"
sed "s#\.\./pkg/thinktwice\.js#../pkg/thinktwice.$hash.js#" www/worker.js > "dist/www/worker.$hash.js"
rm dist/www/worker.js
sed -i "s#new URL(\"worker\.js\", HERE)#new URL(\"worker.$hash.js\", HERE)#" dist/www/client.js
sed -e "s#thinktwice-app-v1#thinktwice-app-$hash#" -e "s#\"www/worker\.js\"#\"www/worker.$hash.js\"#" \
  -e "s#\"pkg/thinktwice\.js\", \"pkg/thinktwice_bg\.wasm\"#\"pkg/thinktwice.$hash.js\", \"pkg/thinktwice_bg.$hash.wasm\"#" sw.js > dist/sw.js
# Every reference rewritten, or the build fails here rather than on a visitor's screen.
grep -q "worker.$hash.js" dist/www/client.js && grep -q "thinktwice.$hash.js" "dist/www/worker.$hash.js" \
  && grep -q "thinktwice_bg.$hash.wasm" "dist/pkg/thinktwice.$hash.js" && grep -q "thinktwice-app-$hash" dist/sw.js \
  && grep -q "worker.$hash.js" dist/sw.js && grep -q "thinktwice_bg.$hash.wasm" dist/sw.js \
  || { echo "build-site: a reference to the hashed engine files was not rewritten" >&2; exit 1; }
echo "build-site: dist/ ($(du -sh dist | cut -f1), $(find dist -type f | wc -l) files, engine $hash)"

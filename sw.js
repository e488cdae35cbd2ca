// The page's service worker: keeps the app's own files (page, scripts, wasm, samples) so that a
// reload works offline. Network first, so a new build is seen as soon as the network answers;
// the cache only when it does not. The weights are not handled here: the engine's worker keeps
// them in its own cache and checks them against pkg/manifest.json.
// It lives at the root because a service worker controls only the pages at or below its folder.
const CACHE = "thinktwice-app-v1";
const SHELL = [
  "./", "index.html", "www/style.css", "www/elements/stage.css",
  "www/app.js", "www/animator.js", "www/client.js", "www/protocol.js", "www/worker.js", "www/imagesize.js",
  "www/elements/stage.js", "www/elements/class-search.js", "www/elements/transport.js", "www/explain.js",
  "www/page/downloads.js", "www/page/embed-code.js", "www/page/imagine.js",
  "www/render/heatmap.js", "www/render/overlay.js", "www/render/charts.js",
  "pkg/thinktwice.js", "pkg/thinktwice_bg.wasm", "pkg/manifest.json",
  "pkg/samples/chelsea.png", "pkg/samples/coffee.png", "pkg/samples/astronaut.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("thinktwice-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.endsWith(".safetensors")) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(async () => (await caches.match(event.request, { ignoreSearch: true })) ?? Response.error()),
  );
});

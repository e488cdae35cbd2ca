// What the browser tests share: a static server for the site (the way any web server would serve
// it) and Debian's chromium through playwright-core, with WebGPU enabled (SwiftShader headless).
import { execFileSync } from "node:child_process";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = new URL("../..", import.meta.url).pathname;
// What `serve` serves: the source tree, or SITE=dist, the folder scripts/build-site.sh writes.
const SERVED = join(ROOT, process.env.SITE ?? "");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
  ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png" };

// Serves ROOT on a free loopback port. `rewrite(path)` may answer a path itself: it returns
// {path, transform(body)} to serve another file or alter it, or {html} for a page of its own.
// cors: send `Access-Control-Allow-Origin: *`, as most static hosts do. host: the name in `base`
// (127.0.0.1 or localhost: two origins on one machine).
// SITE_URL: a site some other server already serves (scripts/test.sh: `python3 -m http.server` in dist/).
export async function serve(rewrite = () => null, { cors = false, host = "127.0.0.1" } = {}) {
  if (process.env.SITE_URL) return { server: { close() {} }, base: process.env.SITE_URL };
  const server = http.createServer(async (req, res) => {
    if (cors) res.setHeader("access-control-allow-origin", "*");
    let path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "") || "index.html";
    const special = rewrite(path) ?? {};
    if (special.html) {
      res.writeHead(200, { "content-type": "text/html" }).end(special.html);
      return;
    }
    path = special.path ?? path;
    try {
      const body = await readFile(join(SERVED, path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(special.transform ? special.transform(body) : body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, base: `http://${host}:${server.address().port}/` };
}

export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    // playwright gives the browser a fresh temporary profile (the --user-data-dir) and headless mode.
    args: ["--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

// The CLI the browser is compared with, on the same f16 weights the page loads.
export function cli(...args) {
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  return execFileSync(join(target, "release/thinktwice"), [...args, "--weights", join(ROOT, "pkg/efficientnet-lite0.f16.safetensors")],
    { encoding: "utf8", cwd: ROOT });
}

// `thinktwice classify`'s top-5 class indices for a file under pkg/samples.
export function cliTop5(sample = "chelsea.png") {
  return cli("classify", join(ROOT, "pkg/samples", sample)).split("\n").slice(1, 6).map((l) => Number(l.trim().split(/\s+/)[0]));
}

// Where tests leave screenshots for a person to look at.
export const SHOTS = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "screenshots");

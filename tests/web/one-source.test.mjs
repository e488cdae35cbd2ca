// What the engine publishes is written nowhere else: no method name, error code, input or frame
// map size, σ or default opacity appears in the page's or the widget's source (they come from the
// engine's `ready`: the Rust library's method table and constants). Reads the built pkg/ in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { engineConstants, initSync, methodRows } from "../../pkg/thinktwice.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
initSync({ module: readFileSync(join(ROOT, "pkg/thinktwice_bg.wasm")) });
const constants = engineConstants();
const methods = methodRows();

// index.html, embed.html and every file under www/, each with its comments removed (a comment may
// say what a constant is).
function sources() {
  const files = ["index.html", "embed.html"];
  const walk = (dir) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.(js|html|css)$/.test(e.name)) files.push(join(dir, e.name));
    }
  };
  walk("www");
  return files.map((file) => {
    const text = readFileSync(join(ROOT, file), "utf8")
      .replace(/<!--[\s\S]*?-->/g, "")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
    return { file, text };
  });
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("the engine publishes the method table and its constants", () => {
  assert.equal(methods[0].name, constants.defaultMethod);
  assert.ok(methods[0].alias && methods.slice(1).every((m) => !m.alias && m.label && m.about));
  assert.ok(methods.length >= 12, `${methods.length} methods`);
  assert.equal(constants.palette.length, 256 * 4);
  assert.ok(constants.classColours.length >= 6);
  assert.ok(Object.keys(constants.codes).length >= 7);
});

test("no method name, error code or engine constant is written in www/, index.html or embed.html", () => {
  const words = [...new Set([...methods.map((m) => m.name), ...Object.values(constants.codes)])];
  const numbers = [constants.inputSize, constants.frameMapSide, constants.maxPixels, constants.opacity].map(String);
  const found = [];
  for (const { file, text } of sources()) {
    for (const w of words) {
      // As a string, an attribute value or a query parameter: "cam", 'cam', `cam`, method=cam.
      if (new RegExp(`["'\`]${escape(w)}["'\`]|=${escape(w)}(?![\\w-])`).test(text)) found.push(`${file}: ${w}`);
    }
    for (const n of numbers) if (new RegExp(`(^|[^\\w.#])${escape(n)}(?![\\w.])`).test(text)) found.push(`${file}: ${n}`);
  }
  assert.deepEqual(found, [], "take these from the engine's ready (methods, constants)");
});

// The service worker's list of the app's own files (sw.js) holds every module the page and the
// engine's worker import, so that an offline reload finds them all.
test("the service worker keeps every module the page and its worker import", () => {
  const shell = readFileSync(join(ROOT, "sw.js"), "utf8");
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const [, spec] of text.matchAll(/^import\s+(?:[^"']*\s+from\s+)?["'](\.[^"']+)["']/gm)) {
      visit(join(dirname(file), spec).replaceAll("\\", "/"));
    }
  };
  visit("www/app.js");
  visit("www/worker.js");
  const missing = [...seen].filter((f) => !shell.includes(`"${f}"`));
  assert.deepEqual(missing, [], "add these to sw.js's SHELL");
  assert.ok(seen.size >= 10, `${seen.size} modules`);
});

// The engine's worker: owns the wasm core and the weights; decodes images with the browser's own
// decoder; runs one request at a time; streams every feedback iteration as a frame. The page never
// runs the model. See protocol.js for the messages.
import init, { Engine, classSynonyms, engineConstants, gatedLayers, memoryBytes, methodRows } from "../pkg/thinktwice.js";
import { imageSize } from "./imagesize.js";
import { EngineError, Kind, MAX_SIDE } from "./protocol.js";

const CACHE = "thinktwice-weights-v1";

let engine = null;
let backend = null;
// The library's constants (error codes, limits) once its wasm is instantiated; the weights need not be in.
const wasm = init().then(() => engineConstants());
let constants = null;
wasm.then((c) => { constants = c; }, () => {});
const codes = () => constants?.codes ?? {};
let pixels = null; // the last classified image, as {data, width, height}
let framing = null; // how the engine holds `pixels` now: "center-crop" (classify) or "whole" (explain)
// Only the newest explain may run, and only until it is aborted: an older one (running or
// still queued) has been superseded.
let latestExplain = null;
let latestAborted = false;
const wanted = (id) => id === latestExplain && !latestAborted;
let queue = Promise.resolve();

const post = (message, transfer = []) => self.postMessage(message, transfer);
const postResult = (id, value, transfer = []) => post({ kind: Kind.RESULT, id, value, memoryBytes: memoryBytes() }, transfer);

self.onmessage = ({ data: message }) => {
  if (message.kind === Kind.ABORT) {
    if (message.id === latestExplain) latestAborted = true;
    return;
  }
  if (message.kind === Kind.EXPLAIN || message.kind === Kind.VISUALIZE) {
    latestExplain = message.id;
    latestAborted = false;
  }
  queue = queue.then(() => serve(message));
};

async function serve(message) {
  const { id } = message;
  try {
    switch (message.kind) {
      case Kind.LOAD:
        return post({ kind: Kind.READY, id, ...(await load(message)) });
      case Kind.CLASSIFY:
        return await classify(message);
      case Kind.EXPLAIN:
        return await explain(message);
      case Kind.VISUALIZE:
        return await visualize(message);
      case Kind.BOX:
        prepare("whole");
        return postResult(id, inFile(engine.boxOf(message.map, message.side, message.threshold, message.sigma, message.rule)));
      case Kind.OVERLAY:
        return overlay(message);
      case Kind.REPORT:
        prepare("whole");
        return postResult(id, requireEngine().report({ ...message.report, ...fileSize() }));
      default:
        throw new EngineError(codes().badInput, `unknown message kind ${message.kind}`);
    }
  } catch (error) {
    reportError(id, error);
  }
}

function reportError(id, error) {
  if (error instanceof WebAssembly.RuntimeError || error?.name === "RuntimeError") {
    // A panic or a GPU failure traps the whole wasm instance: nothing here can serve again.
    post({ kind: Kind.ERROR, id, code: backend === "gpu" ? codes().gpuLost : codes().crashed, message: `the engine stopped (${error.message}); restart it` });
    engine = null;
    return;
  }
  // On the GPU a device error means the device is gone (lost, destroyed, out of memory).
  const lost = backend === "gpu" && error?.code === codes().device;
  post({ kind: Kind.ERROR, id, code: lost ? codes().gpuLost : error?.code ?? codes().device, message: error?.message ?? String(error) });
}

async function load({ id, weights, manifest, backend: wanted }) {
  if (engine) return info(); // one engine per worker: a second init of the GPU device errors
  const [bytes] = await Promise.all([fetchWeights(id, weights, manifest), wasm]);
  engine = await Engine.load(bytes, wanted ?? "auto");
  backend = engine.info.backend;
  return info();
}

// What the page learns once: the backend, the class names, the method table, the gated layers and
// the library's constants.
const info = () => ({ ...engine.info, classes: classSynonyms(), methods: methodRows(), layers: gatedLayers(), constants });

// The weight file, from the Cache API when it is there (offline after the first visit), checked
// against the manifest's size and SHA-256 either way: a damaged file is an error, never a model.
async function fetchWeights(id, url, manifestUrl) {
  const { codes: { badWeights } } = await wasm;
  const name = url.split("/").pop();
  const cache = await caches.open(CACHE).catch(() => null);
  const manifest = await fetchCached(cache, manifestUrl).then((r) => r.json()).catch(() => null);
  const expected = manifest?.files?.find((f) => f.name === name);
  if (!expected) throw new EngineError(badWeights, `${manifestUrl} does not describe ${name}`);
  let response = await cache?.match(url);
  const fromCache = !!response;
  if (!response) {
    response = await fetch(url).catch((e) => { throw new EngineError(badWeights, `cannot download ${url}: ${e.message}`); });
    if (!response.ok) throw new EngineError(badWeights, `cannot download ${url}: ${response.status} ${response.statusText}`);
  }
  const total = expected.bytes;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    post({ kind: Kind.PROGRESS, id, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
  if (bytes.length !== expected.bytes || digest !== expected.sha256) {
    if (fromCache) await cache.delete(url);
    throw new EngineError(badWeights,
      `${name} is damaged or not the expected file: ${bytes.length} bytes with SHA-256 ${digest.slice(0, 12)}…, ` +
      `expected ${expected.bytes} bytes with ${expected.sha256.slice(0, 12)}…`);
  }
  if (!fromCache) await cache?.put(url, new Response(bytes)).catch(() => {});
  return bytes;
}

// The network's copy when it answers (kept in the cache), else the cached one (offline).
async function fetchCached(cache, url) {
  const { codes: { badWeights } } = await wasm;
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (response.ok) {
      await cache?.put(url, response.clone()).catch(() => {});
      return response;
    }
  } catch { /* offline: fall through to the cache */ }
  const cached = await cache?.match(url);
  if (!cached) throw new EngineError(badWeights, `cannot download ${url}`);
  return cached;
}

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

function requireEngine() {
  if (!engine) throw new EngineError(codes().notLoaded, "the model is not loaded yet");
  return engine;
}

// The browser decodes (EXIF orientation honoured). The header's size decides first: a bomb is
// refused unread, and a photo larger than MAX_SIDE is downscaled by the decoder itself.
async function decode(buffer) {
  const header = imageSize(buffer);
  const { maxPixels, codes } = constants;
  if (header && (header.width === 0 || header.height === 0)) throw new EngineError(codes.badImage, `cannot read image: the ${header.type} header says ${header.width}×${header.height}`);
  if (header && header.width * header.height > maxPixels) {
    throw new EngineError(codes.badImage, `image too large: ${header.width}×${header.height} pixels (the limit is ${maxPixels / 1e6 | 0} megapixels)`);
  }
  const blob = new Blob([buffer]);
  const options = { imageOrientation: "from-image", premultiplyAlpha: "none", colorSpaceConversion: "default" };
  const fit = (w, h) => {
    const scale = Math.min(1, MAX_SIDE / Math.max(w, h));
    return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)), scaled: scale < 1 };
  };
  // Only the width: the height follows with the aspect ratio, after EXIF rotation too.
  const bitmapOf = (size) => createImageBitmap(blob, size ? { ...options, resizeWidth: size.width, resizeQuality: "high" } : options);
  let bitmap;
  try {
    const target = header && fit(header.width, header.height);
    bitmap = await bitmapOf(target?.scaled ? target : null);
    if (Math.max(bitmap.width, bitmap.height) > MAX_SIDE) {
      // A format whose header we do not read, or an EXIF rotation that swapped the sides.
      const size = fit(bitmap.width, bitmap.height);
      bitmap.close();
      bitmap = await bitmapOf(size);
    }
  } catch {
    throw new EngineError(codes.badImage, "cannot read image: the browser could not decode it (JPEG, PNG, WebP, GIF, BMP or AVIF)");
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const image = context.getImageData(0, 0, width, height);
  // Boxes go back to the file's own pixels: the decoded image may be smaller than the file.
  const scale = header ? Math.max(header.width, header.height) / Math.max(width, height) : 1;
  return { data: new Uint8Array(image.data.buffer), width, height, scale };
}

// A box in the decoded image's pixels → in the file's pixels, and back.
const scaled = (box, s) => box && s !== 1 ? { x0: box.x0 * s, y0: box.y0 * s, x1: box.x1 * s, y1: box.y1 * s } : box;
const inFile = (box) => scaled(box, pixels.scale);
const inDecoded = (box) => scaled(box, 1 / pixels.scale);
const fileSize = () => ({ width: Math.round(pixels.width * pixels.scale), height: Math.round(pixels.height * pixels.scale) });

// Classification sees the centre crop (as the model was trained); explanations see the whole
// image, so that boxes map back to every pixel of it.
function prepare(wanted) {
  const core = requireEngine();
  if (!pixels) throw new EngineError(codes().badInput, "classify an image first");
  if (framing !== wanted) core.prepareRgba(pixels.data, pixels.width, pixels.height, wanted);
  framing = wanted;
}

async function classify({ id, image, top = 5 }) {
  const core = requireEngine();
  const decoded = await decode(image);
  pixels = decoded;
  framing = null;
  prepare("center-crop");
  const value = await core.classify(top);
  Object.assign(value, fileSize());
  postResult(id, value, [value.probabilities.buffer]);
}

// Grows the image of a class from grey (the same code as `thinktwice visualize`), every step a frame.
async function visualize({ id, classes, iterations = 150 }) {
  const core = requireEngine();
  if (!wanted(id)) throw new EngineError(codes().cancelled, "aborted or superseded before it started");
  const result = await core.visualize(String(classes), iterations, (step) => {
    if (!wanted(id)) return false;
    post({ kind: Kind.FRAME, id, frame: step }, step.picture ? [step.picture.buffer] : []);
    return true;
  });
  if (!wanted(id)) throw new EngineError(codes().cancelled, "aborted or superseded");
  postResult(id, result, [result.picture.buffer]);
}

async function explain({ id, ...request }) {
  const core = requireEngine();
  if (!wanted(id)) throw new EngineError(codes().cancelled, "aborted or superseded before it started");
  prepare("whole");
  // Classes as indices, or as a spec of names and indices ("tabby, 282", "top3").
  if (typeof request.classes === "string") request.classes = Array.from(await core.parseClasses(request.classes));
  const results = await core.explain(request, (frame) => {
    if (!wanted(id)) return false; // the core then ends the run as cancelled
    frame.box = inFile(frame.box);
    frame.region = inFile(frame.region);
    post({ kind: Kind.FRAME, id, frame }, frame.map ? [frame.map.buffer] : []);
    return true;
  });
  if (!wanted(id)) throw new EngineError(codes().cancelled, "aborted or superseded");
  for (const r of results) {
    r.box = inFile(r.box);
    r.peak = r.peak.map((v) => v * pixels.scale);
    r.looks = r.looks.map((l) => ({ ...l, region: inFile(l.region), box: inFile(l.box) }));
  }
  postResult(id, results, results.map((r) => r.map.buffer));
}

// The overlay PNG's pixels, drawn by the library as the CLI draws them, at the decoded image's size.
function overlay({ id, map, ...request }) {
  prepare("whole");
  request.classes = request.classes.map((c) => ({ ...c, box: inDecoded(c.box) }));
  const picture = requireEngine().overlay(map, request);
  postResult(id, picture, [picture.rgba.buffer]);
}

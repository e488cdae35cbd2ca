// The messages between the page (client.js) and the engine's worker (worker.js).
//
// Every message has a `kind` and a request `id`.
//   page → worker: load {weights, manifest, backend}   classify {image: ArrayBuffer, top}
//                  explain {classes, method, mapSize, threshold, sigma, iterations, refine}
//                  (classes: indices, or a spec string such as "tabby, 282" or "top3")
//                  visualize {classes, iterations}: grow the image of the first class of the spec
//                  abort {id}: stop that explain or visualize between two iterations
//                  box {map: Float32Array, side, threshold, sigma, rule}: the box of a side × side
//                  map over the last explained image, in its pixels (redraws without rerunning)
//                  overlay {map: Float32Array, method, classes: [{class, probability, box}], top,
//                  legend, opacity}: the downloadable overlay as `thinktwice localize` draws it,
//                  answered with {width, height, rgba}
//                  report {report: {image, method, backend, threshold, boxRule, classes, frames,
//                  compare?}}: the JSON text `thinktwice localize` writes, made by the library
//   worker → page: progress {loaded, total}
//                  ready {backend, adapter, fallbackReason, classes: synonyms per class,
//                         methods: the method table's rows [{name, label, about, feedback, alias, …}],
//                         layers: [{name, channels, height, width}] the 33 gated layers,
//                         constants: {inputSize, frameMapSide, sigma, opacity, maxPixels, codes,
//                         palette, classColours, ownScale, defaultMethod}, all from the Rust library}
//                  frame {frame}: one feedback iteration, frame.map a Float32Array (transferred);
//                  for visualize one step, frame.picture 224×224 RGBA bytes (some steps)
//                  result {value, memoryBytes}   error {code, message}
//                  (memoryBytes: the wasm instance's linear memory after the request)
export const Kind = Object.freeze({
  LOAD: "load",
  CLASSIFY: "classify",
  EXPLAIN: "explain",
  VISUALIZE: "visualize",
  ABORT: "abort",
  BOX: "box",
  OVERLAY: "overlay",
  REPORT: "report",
  PROGRESS: "progress",
  READY: "ready",
  FRAME: "frame",
  RESULT: "result",
  ERROR: "error",
});

// Error codes come from the engine (`ready.constants.codes`, the Rust library's list): none is
// written here.

// Images are decoded at most this many pixels on their longer side: the network sees 224×224,
// and boxes come back in original pixels by scaling, so nothing larger is ever needed.
export const MAX_SIDE = 2048;

// An Error with a stable code, as the worker posts them and the client rejects with them.
export class EngineError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "EngineError";
    this.code = code;
  }
}

// The messages between the page (client.js) and the engine's worker (worker.js).
//
// Every message has a `kind` and a request `id`.
//   page → worker: load {weights, manifest, backend}   classify {image: ArrayBuffer, top}
//                  explain {classes, method, mapSize, threshold, sigma, iterations, refine}
//                  (classes: indices, or a spec string such as "tabby, 282" or "top3")
//                  visualize {classes, iterations}: grow the image of the first class of the spec
//                  abort {id}: stop that explain or visualize between two iterations
//                  box {map: Float32Array, side, threshold, sigma}: the box of a side × side map
//                  over the last explained image, in its pixels (redraws without rerunning)
//   worker → page: progress {loaded, total}
//                  ready {backend, adapter, fallbackReason, classes: synonyms per class, methods,
//                         layers: [{name, channels, height, width}] the 33 gated layers}
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
  PROGRESS: "progress",
  READY: "ready",
  FRAME: "frame",
  RESULT: "result",
  ERROR: "error",
});

// Error codes: those of the Rust library (bad-image, bad-weights, unknown-class, unknown-method,
// bad-input, device, cancelled) and the worker's own.
export const Code = Object.freeze({
  BAD_IMAGE: "bad-image",
  BAD_WEIGHTS: "bad-weights",
  CANCELLED: "cancelled",
  GPU_LOST: "gpu-lost",
  CRASHED: "crashed",
  NOT_LOADED: "not-loaded",
});

// Images are decoded at most this many pixels on their longer side: the network sees 224×224,
// and boxes come back in original pixels by scaling, so nothing larger is ever needed.
export const MAX_SIDE = 2048;

// Files whose header claims more pixels than this (16384 × 16384) are refused before decoding:
// no camera makes them, decompression bombs do.
export const MAX_PIXELS = 16384 * 16384;

// An Error with a stable code, as the worker posts them and the client rejects with them.
export class EngineError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "EngineError";
    this.code = code;
  }
}

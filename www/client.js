// The page's side of the engine: promises for results, events for progress and frames. Owns the
// worker; when the GPU is lost (the wasm instance traps), it restarts the worker on the CPU,
// repeats the request, and says so with a "fallback" event. Events: progress, ready, frame,
// fallback, stats ({memoryBytes} of the wasm instance after each result).
import { EngineError, Kind } from "./protocol.js";

const HERE = new URL(".", import.meta.url);

// The engine's worker. A browser starts a worker only from the page's own origin, so when this
// module was loaded from another one (a <think-twice> on a lesson page of another site), the
// worker starts from a same-origin Blob that imports the real worker module from its own URL;
// that module then fetches the wasm, the weights and the manifest from its site, with CORS.
function workerUrl() {
  const url = new URL("worker.js", HERE);
  if (url.origin === self.location.origin) return url;
  return URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};\n`], { type: "text/javascript" }));
}

export class EngineClient extends EventTarget {
  // backend: "auto" (WebGPU when the browser has it), "gpu" or "cpu".
  constructor({ backend = "auto", weights = new URL("../pkg/efficientnet-lite0.f16.safetensors", HERE).href,
    manifest = new URL("../pkg/manifest.json", HERE).href } = {}) {
    super();
    this.options = { backend, weights, manifest };
    this.nextId = 1;
    this.pending = new Map(); // id → {resolve, reject, onFrame, message, retryOnGpuLoss}
    this.lastImage = null;
    this.ready = null;
    this.#start(backend);
  }

  #start(backend) {
    this.worker?.terminate();
    this.worker = new Worker(workerUrl(), { type: "module" });
    this.worker.onmessage = ({ data }) => this.#receive(data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      for (const [id] of this.pending) this.#receive({ kind: Kind.ERROR, id, code: this.codes?.crashed, message: event.message ?? "the engine's worker failed" });
    };
    this.backend = backend;
    this.loading = this.#send({ kind: Kind.LOAD, weights: this.options.weights, manifest: this.options.manifest, backend }).promise
      .then((info) => {
        this.ready = info;
        this.dispatchEvent(new CustomEvent("ready", { detail: info }));
        return info;
      });
    this.loading.catch(() => {});
  }

  // Resolves to {backend, adapter, fallbackReason} once the weights are in and the model is built.
  load() {
    return this.loading;
  }

  // Classifies an image file's bytes: {top: [{index, name, probability}], probabilities, width, height}.
  async classify(image, top = 5) {
    await this.loading;
    const bytes = image instanceof ArrayBuffer ? image : await new Response(image).arrayBuffer();
    // Posted without transfer (the browser copies it), so the bytes stay here for a GPU-loss retry.
    const value = await this.#send({ kind: Kind.CLASSIFY, image: bytes, top }, { retryOnGpuLoss: true }).promise;
    this.lastImage = bytes;
    return value;
  }

  // Explains classes of the last classified image: request {classes, method, mapSize, threshold, …};
  // onFrame(frame) sees every iteration. Resolves to one result per class, each with its map.
  // A newer explain supersedes this one: it then rejects with code "cancelled".
  async explain(request, onFrame = () => {}) {
    this.abort(this.lastExplain, "superseded by a newer explain");
    await this.loading;
    const { id, promise } = this.#send({ kind: Kind.EXPLAIN, ...request }, { retryOnGpuLoss: true, onFrame });
    this.lastExplain = id;
    return promise;
  }

  // Grows the image of the first class of `classes` (an index, a name or a spec) over `iterations`
  // steps; onStep(step) sees every step ({iteration, probability, score, elapsedMs, picture?: 224 × 224
  // RGBA}). Resolves to {class, name, probability, score, iterations, picture}. Like an explain, a
  // newer explain or visualize supersedes it, and abort() stops it.
  async visualize({ classes, iterations = 150 }, onStep = () => {}) {
    this.abort(this.lastExplain, "superseded by a newer request");
    await this.loading;
    const { id, promise } = this.#send({ kind: Kind.VISUALIZE, classes, iterations }, { retryOnGpuLoss: true, onFrame: onStep });
    this.lastExplain = id;
    return promise;
  }

  // The box of a side × side map over the last explained image, smoothed by `sigma`, at
  // `threshold` of its peak or of its mass (`rule`, as a result gives them), in its pixels.
  async boxOf(map, side, threshold, sigma, rule) {
    await this.loading;
    return this.#send({ kind: Kind.BOX, map, side, threshold, sigma, rule }).promise;
  }

  // The overlay of `map` over the last explained image, drawn by the library as `thinktwice
  // localize` draws it: {width, height, rgba}. request: {method, classes: [{class, probability,
  // box}] in their chosen order, top?, legend?, opacity?}.
  async overlay(map, request) {
    await this.loading;
    return this.#send({ kind: Kind.OVERLAY, map, ...request }).promise;
  }

  // The JSON report of what the page shows, as `thinktwice localize` writes it (the library's
  // shape; what else the objects hold is left out): report {image, method, backend, threshold,
  // boxRule, classes: results, frames, compare?: {method, threshold, boxRule, classes}}.
  async report(report) {
    await this.loading;
    return this.#send({ kind: Kind.REPORT, report }).promise;
  }

  // The engine's error codes (`ready.constants.codes`), once it is ready.
  get codes() {
    return this.ready?.constants.codes;
  }

  // Stops the explain with this id (default: the latest) between two iterations.
  abort(id = this.lastExplain, why = "aborted") {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id); // nothing of it reaches the page any more
    this.worker.postMessage({ kind: Kind.ABORT, id });
    entry.reject(new EngineError(this.codes?.cancelled, why));
  }

  // Posts `message` with a fresh id; returns the id and a promise of its result.
  #send(message, { retryOnGpuLoss = false, onFrame = null } = {}) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onFrame, message, retryOnGpuLoss });
      this.worker.postMessage({ ...message, id });
    });
    return { id, promise };
  }

  #receive(data) {
    const entry = this.pending.get(data.id);
    if (!entry) return; // aborted or superseded: dropped
    switch (data.kind) {
      case Kind.PROGRESS:
        this.dispatchEvent(new CustomEvent("progress", { detail: { loaded: data.loaded, total: data.total } }));
        return;
      case Kind.FRAME:
        entry.onFrame?.(data.frame);
        this.dispatchEvent(new CustomEvent("frame", { detail: data.frame }));
        return;
      case Kind.READY:
      case Kind.RESULT:
        this.pending.delete(data.id);
        if (data.memoryBytes) {
          this.memoryBytes = data.memoryBytes;
          this.dispatchEvent(new CustomEvent("stats", { detail: { memoryBytes: data.memoryBytes } }));
        }
        entry.resolve(data.kind === Kind.READY
          ? { backend: data.backend, adapter: data.adapter, fallbackReason: data.fallbackReason, classes: data.classes, methods: data.methods, layers: data.layers, constants: data.constants }
          : data.value);
        return;
      case Kind.ERROR:
        this.pending.delete(data.id);
        if ((data.code === this.codes?.gpuLost || (data.code === this.codes?.crashed && this.backend !== "cpu")) && entry.retryOnGpuLoss) {
          this.#recover(entry, data.message);
        } else {
          entry.reject(new EngineError(data.code, data.message));
        }
        return;
    }
  }

  // The GPU is gone: a new worker on the CPU, the last image again, then the failed request.
  async #recover(entry, reason) {
    this.dispatchEvent(new CustomEvent("fallback", { detail: { reason } }));
    const others = [...this.pending.values()];
    this.pending.clear();
    this.#start("cpu");
    try {
      await this.loading;
      if (this.lastImage && entry.message.kind === Kind.EXPLAIN) {
        await this.#send({ kind: Kind.CLASSIFY, image: this.lastImage, top: 5 }).promise;
      }
      entry.resolve(await this.#send(entry.message, { onFrame: entry.onFrame }).promise);
    } catch (error) {
      entry.reject(error);
    }
    for (const other of others) other.reject(new EngineError(this.codes?.gpuLost, reason));
  }

  terminate() {
    this.worker.terminate();
    for (const entry of this.pending.values()) entry.reject(new EngineError(this.codes?.cancelled, "engine terminated"));
    this.pending.clear();
  }
}

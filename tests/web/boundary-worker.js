// The JavaScript boundary of the one wasm build (pkg/), in a dedicated worker as on the page: what
// `Engine` hands JavaScript (objects, Float32Arrays, Errors with a code) for real weights and a
// real photo. boundary.test.mjs asks for each check by name and asserts on what comes back.
import init, { Engine, classNames } from "../../pkg/thinktwice.js";

const ready = init();
const bytes = async (path) => new Uint8Array(await (await fetch(new URL(path, import.meta.url))).arrayBuffer());

// A rejected call's Error, as plain data.
async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return { isError: e instanceof Error, message: e.message, code: e.code };
  }
  return null;
}

async function engineWithSample() {
  const engine = await Engine.load(await bytes("../../pkg/efficientnet-lite0.f16.safetensors"), "cpu");
  const bitmap = await createImageBitmap(new Blob([await bytes("../../pkg/samples/chelsea.png")], { type: "image/png" }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const g = canvas.getContext("2d");
  g.drawImage(bitmap, 0, 0);
  const rgba = new Uint8Array(g.getImageData(0, 0, bitmap.width, bitmap.height).data.buffer);
  const info = engine.prepareRgba(rgba, bitmap.width, bitmap.height, "whole");
  return { engine, info, size: [bitmap.width, bitmap.height] };
}

const checks = {
  async classNames() {
    const names = classNames();
    return { length: names.length, n282: names[282] };
  },
  async badWeights() {
    const weights = await bytes("../../pkg/efficientnet-lite0.f16.safetensors");
    return {
      garbage: await failure(Engine.load(new TextEncoder().encode("not weights"), "cpu")),
      truncated: await failure(Engine.load(weights.slice(0, weights.length / 2), "cpu")),
      backend: await failure(Engine.load(weights, "tpu")),
    };
  },
  async classify() {
    const { engine, info, size } = await engineWithSample();
    const result = await engine.classify(5);
    return {
      info,
      size,
      backend: engine.info.backend,
      top: result.top,
      isFloat32: result.probabilities instanceof Float32Array,
      length: result.probabilities.length,
      sum: result.probabilities.reduce((s, p) => s + p, 0),
      elapsedMs: result.elapsedMs,
    };
  },
  async explain() {
    const { engine } = await engineWithSample();
    const frames = [];
    const results = await engine.explain({ classes: [282], method: "feedback-soft", iterations: 3, mapSize: 28 }, (frame) => {
      frames.push({ iteration: frame.iteration, layers: frame.openFraction.length, map: frame.map instanceof Float32Array ? frame.map.length : -1 });
      return true;
    });
    const r = results[0];
    return { frames, class: r.class, map: r.map instanceof Float32Array ? r.map.length : -1, box: r.box, looks: r.looks };
  },
  async errors() {
    const { engine } = await engineWithSample();
    return {
      cancelled: await failure(engine.explain({ classes: [282], method: "feedback-soft" }, () => false)),
      unknownClass: await failure(engine.explain({ classes: [1000] }, () => true)),
      unknownMethod: await failure(engine.explain({ classes: [282], method: "magic" }, () => true)),
      badImage: await failure((async () => engine.prepareRgba(new Uint8Array(12), 4, 4, "whole"))()),
      badFraming: await failure((async () => engine.prepareRgba(new Uint8Array(64), 4, 4, "sideways"))()),
    };
  },
};

self.onmessage = async ({ data: name }) => {
  try {
    await ready;
    self.postMessage({ name, value: await checks[name]() });
  } catch (e) {
    self.postMessage({ name, error: String(e?.stack ?? e) });
  }
};

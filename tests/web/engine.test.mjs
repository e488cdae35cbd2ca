// The engine's worker protocol in a real browser (Debian's chromium through playwright-core), with
// the real weights: load, classify the sample as the CLI does, explain with frames on the CPU and
// on WebGPU (SwiftShader here), abort, supersede, a bad file, damaged weights, a destroyed GPU.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cliTop5, launch, serve } from "./harness.mjs";

// Served under /lossy/: the same site, with a worker that keeps the GPU devices it is given and
// destroys them on request (the way a driver reset or a lost GPU looks to a page).
const GPU_LOSS_HOOK = `
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    (self.testDevices ??= []).push(device);
    return device;
  };
}
self.addEventListener("message", (e) => { if (e.data?.kind === "test-destroy-gpu") self.testDevices?.forEach((d) => d.destroy()); });
`;
let server, base, browser;

before(async () => {
  ({ server, base } = await serve((path) => {
    if (/^(lossy\/|damaged\/)?blank\.html$/.test(path)) return { html: "<!doctype html><title>engine test</title>" };
    if (path === "lossy/www/worker.js") return { path: "www/worker.js", transform: (body) => GPU_LOSS_HOOK + body };
    if (path.startsWith("damaged/") && path.endsWith(".safetensors")) {
      return { path: path.slice("damaged/".length), transform: (body) => body.subarray(0, body.length >> 1) };
    }
    if (/^(lossy|damaged)\//.test(path)) return { path: path.replace(/^(lossy|damaged)\//, "") };
    return null;
  }));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

// A page with the engine client on it (no app), every request and error recorded.
async function open(prefix = "") {
  const page = await browser.newPage();
  const requests = [];
  const errors = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}${prefix}blank.html`);
  return { page, requests, errors };
}

// Runs `body(engine, sample)` in the page with a fresh EngineClient on `backend`.
const inPage = (page, backend, body, arg) =>
  page.evaluate(async ({ backend, body, arg }) => {
    const { EngineClient } = await import(new URL("www/client.js", location.href).href);
    const engine = new EngineClient({ backend });
    const sample = await (await fetch(new URL("pkg/samples/chelsea.png", location.href))).arrayBuffer();
    const run = new Function("engine", "sample", "arg", `return (${body})(engine, sample, arg);`);
    try {
      return await run(engine, sample, arg);
    } finally {
      engine.terminate();
    }
  }, { backend, body: body.toString(), arg });

const EXPLAIN = { method: "feedback-soft", mapSize: 56, iterations: 4 };

// Classify, then explain the top class with frames; the summary both backends are compared on.
async function classifyAndExplain(engine, sample, request) {
  const ready = await engine.load();
  const classified = await engine.classify(sample, 5);
  const frames = [];
  const results = await engine.explain({ ...request, classes: [classified.top[0].index] }, (f) => frames.push(f));
  return {
    ready,
    top5: classified.top.map((p) => p.index),
    probabilities: Array.from(classified.probabilities.slice(0, 1000)),
    frames: frames.map((f) => ({ iteration: f.iteration, score: f.score, gates: f.openFraction.length, map: f.map?.length, box: f.box })),
    result: { score: results[0].score, box: results[0].box, map: results[0].map.length, trace: results[0].trace.length },
  };
}

test("worker: load, classify as the CLI does, explain with frames on the CPU and on WebGPU", { timeout: 900_000 }, async () => {
  const { page, requests, errors } = await open();
  const cpu = await inPage(page, "cpu", classifyAndExplain, EXPLAIN);
  assert.equal(cpu.ready.backend, "cpu");
  assert.deepEqual(cpu.top5, cliTop5(), "same top-5 as `thinktwice classify`");
  assert.ok(cpu.frames.length >= 3, `${cpu.frames.length} frames`);
  cpu.frames.forEach((f, i) => {
    assert.equal(f.iteration, i);
    assert.equal(f.gates, 33);
    assert.equal(f.map, 56 * 56);
    assert.ok(f.box && f.box.x1 > f.box.x0, JSON.stringify(f.box));
  });
  assert.equal(cpu.result.map, 224 * 224);
  assert.equal(cpu.result.trace, cpu.frames.length);

  const hasGpu = await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
  const gpu = await inPage(page, "auto", classifyAndExplain, EXPLAIN);
  if (!hasGpu) {
    assert.equal(gpu.ready.backend, "cpu");
    assert.ok(gpu.ready.fallbackReason, "a CPU fallback says why");
    console.log(`# no WebGPU adapter in this browser (${gpu.ready.fallbackReason}): checked the CPU fallback only`);
  } else {
    assert.equal(gpu.ready.backend, "gpu", JSON.stringify(gpu.ready));
    console.log(`# WebGPU adapter: ${gpu.ready.adapter}`);
    assert.deepEqual(gpu.top5, cpu.top5);
    const dp = Math.max(...gpu.probabilities.map((p, i) => Math.abs(p - cpu.probabilities[i])));
    assert.ok(dp < 1e-3, `probabilities differ by ${dp}`);
    assert.ok(Math.abs(gpu.result.score - cpu.result.score) < 1e-3, `logit ${gpu.result.score} vs ${cpu.result.score}`);
    assert.ok(gpu.frames.length >= 3);
    gpu.frames.forEach((f, i) => assert.ok(Math.abs(f.score - cpu.frames[i].score) < 1e-2, `frame ${i}: ${f.score} vs ${cpu.frames[i].score}`));
  }
  assert.deepEqual(errors, []);
  for (const url of requests) assert.ok(url.startsWith(base), `request to ${url}`);
  await page.close();
});

test("worker: abort stops a run, a new explain supersedes, a bad file is bad-image", { timeout: 600_000 }, async () => {
  const { page } = await open();
  const outcome = await inPage(page, "cpu", async (engine, sample) => {
    await engine.load();
    const top = (await engine.classify(sample, 1)).top[0].index;
    // Abort after the first frame: the promise rejects as cancelled and no frame follows.
    let afterAbort = 0, aborted = false, firstFrames = 0;
    const first = engine.explain({ classes: [top], method: "feedback-soft", mapSize: 0 }, () => {
      if (aborted) afterAbort++;
      firstFrames++;
      if (!aborted) { aborted = true; engine.abort(); }
    });
    const abortCode = await first.then(() => "resolved", (e) => e.code);
    // Superseding: the second explain's result arrives, the first rejects as cancelled.
    let oldFrames = 0;
    const older = engine.explain({ classes: [top], method: "feedback-soft", mapSize: 0 }, () => oldFrames++);
    const newer = engine.explain({ classes: [top], method: "cam", mapSize: 0 });
    const olderCode = await older.then(() => "resolved", (e) => e.code);
    const framesAtSupersede = oldFrames;
    const newerResult = await newer;
    await new Promise((r) => setTimeout(r, 300));
    // A file that is not an image, then a real one: the worker keeps serving.
    const badCode = await engine.classify(new TextEncoder().encode("<html>not an image</html>").buffer).then(() => "resolved", (e) => e.code);
    const again = (await engine.classify(sample, 1)).top[0].index;
    const unknownClass = await engine.explain({ classes: [1000] }).then(() => "resolved", (e) => e.code);
    return { abortCode, firstFrames, afterAbort, olderCode, oldFrames, framesAtSupersede, newer: newerResult.length, badCode, again, top, unknownClass };
  });
  assert.equal(outcome.abortCode, "cancelled");
  assert.equal(outcome.afterAbort, 0, "no frame after the abort");
  assert.equal(outcome.firstFrames, 1);
  assert.equal(outcome.olderCode, "cancelled");
  assert.equal(outcome.oldFrames, outcome.framesAtSupersede, "no frame of a superseded run afterwards");
  assert.equal(outcome.newer, 1);
  assert.equal(outcome.badCode, "bad-image");
  assert.equal(outcome.again, outcome.top);
  assert.equal(outcome.unknownClass, "unknown-class");
  await page.close();
});

test("worker: damaged weights are bad-weights, not a crash", { timeout: 300_000 }, async () => {
  const { page, errors } = await open("damaged/");
  const code = await inPage(page, "cpu", (engine) => engine.load().then(() => "loaded", (e) => `${e.code}: ${e.message}`));
  assert.match(code, /^bad-weights: .*damaged/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("worker: a destroyed GPU device mid-run finishes on the CPU", { timeout: 900_000 }, async (t) => {
  const { page } = await open("lossy/");
  const hasGpu = await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
  if (!hasGpu) {
    await page.close();
    // Headless chromium with --enable-unsafe-webgpu has SwiftShader's adapter: CI must exercise this.
    if (process.env.CI === "true") assert.fail("no WebGPU adapter in this browser: GPU loss not exercised");
    t.skip("no WebGPU adapter in this browser: GPU loss not exercised");
    return;
  }
  const outcome = await inPage(page, "gpu", async (engine, sample) => {
    const before = await engine.load();
    const top = (await engine.classify(sample, 1)).top[0].index;
    let fallback = null;
    engine.addEventListener("fallback", (e) => { fallback = e.detail.reason; });
    let destroyed = false;
    const results = await engine.explain({ classes: [top], method: "feedback-soft", mapSize: 28, iterations: 4 }, () => {
      if (!destroyed) { destroyed = true; engine.worker.postMessage({ kind: "test-destroy-gpu" }); }
    });
    return { before: before.backend, after: engine.ready.backend, fallback, results: results.length, box: results[0].box };
  });
  assert.equal(outcome.before, "gpu");
  assert.equal(outcome.after, "cpu");
  assert.ok(outcome.fallback, "the page is told");
  assert.equal(outcome.results, 1);
  assert.ok(outcome.box);
  await page.close();
});

test("the bench page measures the engine and reports every figure as JSON", { timeout: 600_000 }, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${base}www/bench.html?backend=cpu&runs=2&methods=cam,feedback&run=1`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 540_000, polling: 250 });
    const r = await page.evaluate(() => window.benchResult);
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.info.backend, "cpu");
    assert.ok(r.loadMs > 0 && r.forwardMs.median > 0 && r.forwardMs.runs === 2, JSON.stringify(r.forwardMs));
    assert.ok(r.forwardBackwardMs.median > r.forwardMs.min, "a forward + backward pass costs more than a forward pass");
    assert.equal(r.methods.cam.iterations, 0);
    assert.ok(r.methods.feedback.iterations >= 3 && r.methods.feedback.perIterationMs > 0, JSON.stringify(r.methods.feedback));
    // The page shows the same figures: a table row per figure and the JSON.
    assert.ok((await page.locator("#table tr").count()) >= 5);
    assert.deepEqual(JSON.parse(await page.locator("#result").textContent()), r);
    await page.screenshot({ path: "target/screenshots/bench-page.png", fullPage: true });
  } finally {
    await page.close();
  }
});

// The wasm boundary (src/web) of the very build the page loads (pkg/), in a dedicated worker in
// headless Chromium: class names, typed errors for bad weights and a bad backend, classify, explain
// with streamed frames, cancelling and bad requests. (These were wasm-bindgen tests, which built the
// wasm a second time with whole-program LTO; testing the one build keeps every check and saves
// that build.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, serve } from "./harness.mjs";

let server, base, browser, page;

before(async () => {
  ({ server, base } = await serve((path) => (path === "boundary.html" ? { html: "<!doctype html><title>boundary</title>" } : null)));
  browser = await launch();
  page = await browser.newPage();
  await page.goto(base + "boundary.html");
  await page.evaluate(() => {
    window.boundary = new Worker("tests/web/boundary-worker.js", { type: "module" });
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

// Runs one named check in the worker; its value, or the worker's error as a failure.
async function check(name) {
  const reply = await page.evaluate(
    (name) => new Promise((ok) => {
      const listen = ({ data }) => {
        if (data.name !== name) return;
        window.boundary.removeEventListener("message", listen);
        ok(data);
      };
      window.boundary.addEventListener("message", listen);
      window.boundary.postMessage(name);
    }),
    name,
  );
  assert.equal(reply.error, undefined, reply.error);
  return reply.value;
}

const isCoded = (failure, code) => {
  assert.ok(failure, `an error with code ${code}`);
  assert.ok(failure.isError, "a JavaScript Error");
  assert.ok(failure.message.length > 0);
  assert.equal(failure.code, code);
};

test("class names are the thousand ImageNet classes", async () => {
  const v = await check("classNames");
  assert.equal(v.length, 1000);
  assert.match(v.n282, /tiger cat/);
});

test("bad weights and a bad backend are errors with codes", { timeout: 300_000 }, async () => {
  const v = await check("badWeights");
  isCoded(v.garbage, "bad-weights");
  isCoded(v.truncated, "bad-weights");
  isCoded(v.backend, "bad-input");
});

test("classify gives the cat and a Float32 probability vector", { timeout: 300_000 }, async () => {
  const v = await check("classify");
  assert.equal(v.info.width, v.size[0]);
  assert.equal(v.info.framing, "whole");
  assert.equal(v.backend, "cpu");
  assert.equal(v.top.length, 5);
  assert.ok(v.top[0].index >= 281 && v.top[0].index <= 285, `top class ${v.top[0].index} is a cat`);
  assert.ok(v.isFloat32);
  assert.equal(v.length, 1000);
  assert.ok(Math.abs(v.sum - 1) < 1e-3, `probabilities sum to ${v.sum}`);
  assert.ok(v.elapsedMs > 0);
});

test("explain streams frames with maps and returns boxes", { timeout: 600_000 }, async () => {
  const v = await check("explain");
  // Iteration 0, then at most 3 (soft feedback may converge sooner).
  assert.ok(v.frames.length >= 2 && v.frames.length <= 4, `${v.frames.length} frames`);
  v.frames.forEach((f, i) => {
    assert.equal(f.iteration, i);
    assert.equal(f.layers, 33);
    assert.equal(f.map, 28 * 28);
  });
  assert.equal(v.class, 282);
  assert.equal(v.map, 224 * 224);
  assert.ok(v.box.x0 >= 0 && v.box.x0 < v.box.x1 && v.box.x1 <= 451, `box ${JSON.stringify(v.box)} inside the photo`);
  assert.equal(v.looks.length, 1, "a baseline feedback variant looks once");
});

test("a false from the frame callback cancels, and bad requests have codes", { timeout: 600_000 }, async () => {
  const v = await check("errors");
  isCoded(v.cancelled, "cancelled");
  isCoded(v.unknownClass, "unknown-class");
  isCoded(v.unknownMethod, "unknown-method");
  isCoded(v.badImage, "bad-image");
  isCoded(v.badFraming, "bad-input");
});

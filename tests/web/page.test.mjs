// The page in a real browser (Debian's chromium through playwright-core): the sample is classified,
// bad files give a clear message, WebGPU works where the browser has it, and no image leaves the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, launch, serve } from "./harness.mjs";

let server, base, browser;

before(async () => {
  ({ server, base } = await serve());
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function open(query) {
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(base + "index.html" + query);
  await page.waitForFunction(() => document.body.dataset.ready === "true" || document.querySelector("#status.error"), null, { timeout: 300_000 });
  return { page, requests, errors };
}

const topClass = (page) => page.$eval("#predictions li", (li) => Number(li.dataset.index));

test("classifies the preloaded sample on the CPU and handles bad files", { timeout: 600_000 }, async () => {
  const { page, requests, errors } = await open("?backend=cpu");
  assert.match(await page.textContent("#status"), /Done on cpu/);
  const cat = await topClass(page);
  assert.ok(cat >= 281 && cat <= 285, `top-1 ${cat} is not a cat`);
  assert.equal(await page.$$eval("#predictions li", (l) => l.length), 5);

  await page.setInputFiles("#file", { name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("not an image") });
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /Cannot classify broken\.jpg: cannot read image/);

  const coffee = await readFile(join(ROOT, "pkg/samples/coffee.png"));
  await page.setInputFiles("#file", { name: "coffee.png", mimeType: "image/png", buffer: coffee });
  await page.waitForFunction(() => /Done/.test(document.querySelector("#status").textContent));
  assert.equal(await topClass(page), 967);

  assert.deepEqual(errors, []);
  for (const r of requests) {
    assert.ok(r.url().startsWith(base) || r.url().startsWith("blob:"), `request to ${r.url()}`);
    assert.equal(r.method(), "GET", `${r.method()} ${r.url()}`);
  }
  await page.close();
});

test("uses WebGPU when the browser offers it", { timeout: 600_000 }, async () => {
  const { page, errors } = await open("");
  const hasGpu = await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
  const status = await page.textContent("#status");
  if (!hasGpu) {
    assert.match(status, /Done on cpu/, "without WebGPU the page falls back to the CPU");
    console.log("# no WebGPU adapter in this browser: checked the CPU fallback only");
  } else {
    assert.match(status, /Done on gpu/);
    const cat = await topClass(page);
    assert.ok(cat >= 281 && cat <= 285, `top-1 ${cat} on WebGPU is not a cat`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

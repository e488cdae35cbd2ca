// The class's own picture on the page (class model visualisation, the same Rust code as
// `thinktwice visualize`), in headless Chromium on the CPU: 150 steps stream and are drawn, the
// final picture is the class with p ≥ 0.9 (scored as the CLI scores it) and downloads as a PNG the
// CLI calls the class, Stop stops, and the engine's memory stays flat over three runs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SHOTS, cli, launch, serve } from "./harness.mjs";

let server, base, browser;

before(async () => {
  ({ server, base } = await serve());
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("grow the flamingo's picture: steps stream, p ≥ 0.9, download, stop, flat memory", { timeout: 1_200_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(base + "index.html?backend=cpu");
  await page.waitForFunction(() => document.body.dataset.state === "done", null, { timeout: 600_000, polling: 200 });
  await page.getByRole("button", { name: /^Remove / }).click();
  const search = page.getByRole("combobox", { name: "Class" });
  await search.fill("flamingo");
  await page.getByRole("option", { name: /^flamingo/ }).waitFor();
  await search.press("Enter");
  assert.match(await page.locator("#imagine-title").textContent(), /a flamingo looks like/);
  await page.evaluate(() => {
    window.steps = [];
    window.memory = [];
    const engine = window.thinktwice.state.engine;
    engine.addEventListener("frame", (e) => window.steps.push({ i: e.detail.iteration, p: e.detail.probability, picture: e.detail.picture?.length ?? 0 }));
    engine.addEventListener("stats", (e) => window.memory.push(e.detail.memoryBytes));
  });
  const grow = async () => {
    await page.evaluate(() => { window.steps = []; });
    await page.getByRole("button", { name: "Grow its picture" }).click();
    await page.waitForFunction(() => ["done", "error", "stopped"].includes(document.getElementById("imagine").dataset.state) && document.getElementById("imagine-stop").disabled,
      null, { timeout: 600_000, polling: 200 });
    return page.evaluate(() => ({ state: document.getElementById("imagine").dataset.state, p: Number(document.getElementById("imagine").dataset.probability),
      steps: window.steps, memory: window.memory.at(-1), text: document.getElementById("imagine-text").textContent }));
  };
  const first = await grow();
  assert.equal(first.state, "done", first.text);
  assert.deepEqual(first.steps.map((s) => s.i), Array.from({ length: 151 }, (_, i) => i), "every step streams, in order");
  assert.deepEqual(first.steps.filter((s) => s.picture).map((s) => s.i), [...Array.from({ length: 16 }, (_, i) => 10 * i)], "a picture every 10 steps");
  assert.ok(first.steps.every((s) => !s.picture || s.picture === 224 * 224 * 4));
  assert.ok(first.p >= 0.9, `the final picture is a flamingo with p = ${first.p}`);
  assert.match(first.text, /flamingo: the network gives this picture (9\d\.\d|100\.0)% after 150 steps/);
  await page.screenshot({ path: join(SHOTS, "page-imagine.png"), fullPage: true });

  // The PNG: the canvas as drawn, 224 × 224, which the CLI (reading the file) calls a flamingo.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download picture" }).click()]);
  const png = readFileSync(await download.path());
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [224, 224]);
  const file = join(mkdtempSync(join(tmpdir(), "thinktwice-imagine-")), "flamingo.png");
  writeFileSync(file, png);
  writeFileSync(join(SHOTS, "page-imagine-download.png"), png);
  const top = cli("classify", file).split("\n")[1];
  assert.match(top, /^\s*130\s/, `the CLI's top class for the downloaded picture: ${top}`);

  // Stop: a second run ends at the step it was stopped at.
  await page.getByRole("button", { name: "Grow its picture" }).click();
  await page.waitForFunction(() => (window.steps?.length ?? 0) >= 5, null, { timeout: 120_000, polling: 100 });
  await page.getByRole("button", { name: "Stop" }).click();
  await page.waitForFunction(() => document.getElementById("imagine").dataset.state === "stopped", null, { timeout: 60_000 });
  assert.match(await page.locator("#imagine-text").textContent(), /Stopped at step \d+/);

  // Memory: flat over three whole runs.
  const second = await grow();
  const third = await grow();
  assert.equal(second.state, "done");
  assert.equal(third.state, "done");
  assert.ok(third.memory <= second.memory * 1.01, `wasm memory after run 2 ${second.memory}, after run 3 ${third.memory}`);
  console.log(`imagine: p ${first.p.toFixed(3)}; wasm memory ${first.memory} → ${second.memory} → ${third.memory} bytes`);
  assert.deepEqual(errors, []);
  await page.close();
});

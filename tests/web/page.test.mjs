// The page in a real browser (Debian's chromium through playwright-core), found by its accessible
// names: the sample is classified as the CLI classifies it and explained at once; a photo given
// through the file input and one dropped on the page; a class found with the search box explained
// with feedback, frames animating, and the downloaded JSON's box equal to `thinktwice localize`'s;
// side by side; a bad file; WebGPU where the browser has it; the <think-twice> widget page; no
// request leaves the page's origin. Screenshots of each state go to target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, SHOTS, cli, cliTop5, launch, serve } from "./harness.mjs";

let server, base, browser;

before(async () => {
  ({ server, base } = await serve());
  browser = await launch();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

const sample = (name) => readFileSync(join(ROOT, "pkg/samples", name));
const settled = (page, timeout = 600_000) =>
  page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout, polling: 100 });

async function open(path, { width = 1280, height = 900 } = {}) {
  const page = await browser.newPage({ viewport: { width, height } });
  const requests = [];
  const errors = [];
  page.on("request", (r) => requests.push(r));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(base + path);
  return { page, requests, errors };
}

const topClasses = (page) =>
  page.getByRole("list", { name: "Top classes" }).getByRole("button").evaluateAll((bs) => bs.map((b) => Number(b.dataset.index)));

function onlyOwnOrigin(requests) {
  for (const r of requests) {
    assert.ok(r.url().startsWith(base) || r.url().startsWith("blob:") || r.url().startsWith("data:"), `request to ${r.url()}`);
    assert.equal(r.method(), "GET", `${r.method()} ${r.url()}`);
  }
}

function iou(a, b) {
  const w = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
  const h = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const area = (r) => (r.x1 - r.x0) * (r.y1 - r.y0);
  return (w * h) / (area(a) + area(b) - w * h);
}

async function download(page, name) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name }).click()]);
  return readFileSync(await file.path());
}

// Two PNGs decoded by the browser (no colour management), compared pixel by pixel: the share of
// pixels whose channels differ by more than 8 levels, and the mean largest channel difference.
async function comparePngs(page, a, b) {
  return page.evaluate(async ([a, b]) => {
    const pixels = async (bytes) => {
      const bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)], { type: "image/png" }), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d");
      context.drawImage(bitmap, 0, 0);
      return { width: bitmap.width, height: bitmap.height, data: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
    };
    const [p, q] = await Promise.all([pixels(a), pixels(b)]);
    if (p.width !== q.width || p.height !== q.height) return { sizes: [[p.width, p.height], [q.width, q.height]] };
    let far = 0, sum = 0;
    for (let i = 0; i < p.data.length; i += 4) {
      const d = Math.max(Math.abs(p.data[i] - q.data[i]), Math.abs(p.data[i + 1] - q.data[i + 1]), Math.abs(p.data[i + 2] - q.data[i + 2]));
      sum += d;
      if (d > 8) far++;
    }
    const n = p.width * p.height;
    return { sizes: [[p.width, p.height]], far: far / n, mean: sum / n };
  }, [[...a], [...b]]);
}

test("page on the CPU: the sample explained at once, classified as the CLI does", { timeout: 900_000 }, async () => {
  const { page, requests, errors } = await open("index.html?backend=cpu");
  await settled(page);
  assert.equal(await page.evaluate(() => document.body.dataset.state), "done");
  assert.match(await page.locator("#badge").textContent(), /CPU/);
  assert.deepEqual(await topClasses(page), cliTop5(), "the sample's top-5 as `thinktwice classify` gives it");
  const results = page.getByRole("region", { name: "Results" });
  assert.match(await results.textContent(), /box x \d+–\d+, y \d+–\d+ px/);
  // The menus and the method list are the library's method table, the default first.
  const options = await page.getByRole("combobox", { name: "Method" }).locator("option").allTextContents();
  const listed = await page.locator("#method-list dt").allTextContents();
  assert.deepEqual(options.slice(1), listed, "the menu and the method list show the same rows");
  assert.equal(listed.length, 11, "every row of `thinktwice methods`");
  assert.match(options[0], /then closer/, "the default first, labelled as the method it stands for");
  assert.equal(await page.locator("#opacity").inputValue(), String(await page.evaluate(() => window.thinktwice.state.info.constants.opacity)));
  await page.screenshot({ path: join(SHOTS, "page-cpu-sample.png"), fullPage: true });
  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

// The keys of a JSON value at every depth (the first element standing for each list), sorted.
const shape = (v) => Array.isArray(v) ? (v.length ? [shape(v[0])] : [])
  : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => [k, shape(v[k])]))
  : typeof v;

test("page on the CPU: a class found by search, feedback frames, JSON and PNG as the CLI writes them", { timeout: 1_200_000 }, async () => {
  const { page, requests, errors } = await open("index.html?backend=cpu");
  await settled(page);
  // A class through the search box (keyboard only), the other class removed, feedback with frames.
  await page.getByRole("button", { name: /^Remove / }).click();
  const search = page.getByRole("combobox", { name: "Class" });
  await search.fill("tabb");
  await page.getByRole("option", { name: /^tabby/ }).waitFor();
  await search.press("Enter");
  assert.deepEqual(await page.getByRole("list", { name: "Classes to explain" }).locator("li").allTextContents(), ["tabby (281)×"]);
  await page.getByRole("combobox", { name: "Method" }).selectOption("feedback-soft");
  await settled(page); // choosing a method explains at once
  await page.evaluate(() => {
    window.drawnWhileRunning = 0;
    window.thinktwice.animator.addEventListener("change", () => { if (document.body.dataset.state === "running") window.drawnWhileRunning++; });
  });
  await page.getByRole("button", { name: "Explain" }).click();
  await settled(page);
  const frames = await page.evaluate(() => window.thinktwice.state.stages[0].frames().map((f) => ({ i: f.iteration, p: f.probability, map: f.map?.length, scale: f.scale })));
  assert.ok(frames.length >= 3, `${frames.length} iterations`);
  assert.ok(await page.evaluate(() => window.drawnWhileRunning) >= 3, "frames are drawn as they arrive");
  const side = await page.evaluate(() => window.thinktwice.state.info.constants.frameMapSide);
  frames.forEach((f, i) => {
    assert.equal(f.i, i);
    assert.equal(f.map, side * side);
    assert.ok(f.scale.top > 0 && f.scale.mass >= f.scale.top, `frame ${i}'s colour scale ${JSON.stringify(f.scale)}`);
  });
  const slider = page.getByRole("slider", { name: "Iteration" });
  assert.equal(await slider.getAttribute("max"), String(frames.length - 1));
  await page.getByRole("button", { name: "Step back" }).click();
  assert.equal(await slider.inputValue(), String(frames.length - 2));
  await page.getByRole("button", { name: "Play" }).click();
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await page.getByRole("button", { name: "Play" }).waitFor({ timeout: 30_000 }); // it stops at the last frame
  assert.equal(await slider.inputValue(), String(frames.length - 1));
  await page.screenshot({ path: join(SHOTS, "page-cpu-feedback.png"), fullPage: true });

  const json = JSON.parse(await download(page, "Download JSON"));
  const out = mkdtempSync(join(tmpdir(), "thinktwice-page-"));
  cli("localize", join(ROOT, "pkg/samples/chelsea.png"), "--class", "281", "--method", "feedback-soft", "--out", out);
  const expected = JSON.parse(readFileSync(join(out, "chelsea.feedback-soft.json"), "utf8"));
  assert.equal(json.method, "feedback-soft");
  // One shape, made by one piece of code: every key the CLI writes, at every depth, and no other
  // (the page adds only the backend that ran it; the CLI only the seconds it took).
  assert.deepEqual(shape({ ...json, backend: undefined }), shape({ ...expected, seconds: undefined }));
  assert.deepEqual([json.width, json.height, json.framing, json.threshold, json.boxRule], [expected.width, expected.height, expected.framing, expected.threshold, expected.boxRule]);
  assert.equal(json.classes[0].class, 281);
  const overlap = iou(json.classes[0].box, expected.classes[0].box);
  assert.ok(overlap >= 0.9, `page box ${JSON.stringify(json.classes[0].box)} vs CLI ${JSON.stringify(expected.classes[0].box)}: IoU ${overlap}`);
  assert.equal(json.classes[0].trace.length, frames.length);
  // The overlay PNG is the CLI's: the same code draws both (photo, heat, legend, labelled box).
  const png = await download(page, "Download PNG");
  writeFileSync(join(SHOTS, "page-download.png"), png);
  const cliPng = readFileSync(join(out, "chelsea.281.feedback-soft.png"));
  const same = await comparePngs(page, png, cliPng);
  assert.deepEqual(same.sizes, [[451, 300]], "the overlay PNG has the photo's size, as the CLI's");
  assert.ok(same.far < 0.01 && same.mean < 0.5, `page PNG vs CLI PNG: ${(100 * same.far).toFixed(2)}% of pixels differ by more than 8 levels, mean ${same.mean.toFixed(3)}`);
  // …and it shows something: the heat and the box differ from the bare photo.
  const bare = await comparePngs(page, png, sample("chelsea.png"));
  assert.ok(bare.far > 0.3, `the overlay differs from the photo on ${(100 * bare.far).toFixed(1)}% of pixels`);
  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

test("page on the CPU: threshold, side by side, two classes, a bad file and a dropped one", { timeout: 1_200_000 }, async () => {
  const { page, requests, errors } = await open("index.html?backend=cpu");
  await settled(page);
  const results = page.getByRole("region", { name: "Results" });
  // The box threshold redraws the box without running again.
  const before = await page.evaluate(() => window.thinktwice.state.stages[0].run.results[0].box);
  const explained = await page.evaluate(() => window.thinktwice.state.runId);
  await page.getByRole("slider", { name: "Box threshold" }).fill("0.95");
  await page.waitForFunction((b) => {
    const r = window.thinktwice.state.stages[0].run.results[0].box;
    return r && (r.x1 - r.x0) * (r.y1 - r.y0) !== (b.x1 - b.x0) * (b.y1 - b.y0);
  }, before);
  assert.equal(await page.evaluate(() => window.thinktwice.state.runId), explained, "no new run");

  // Side by side with CAM, on one colour scale.
  await page.getByRole("combobox", { name: "Compare with" }).selectOption({ label: "CAM" });
  await settled(page);
  assert.equal(await page.locator(".stage").count(), 2);
  assert.match(await page.locator(".legend").textContent(), /× the average pixel/);
  assert.equal((await results.locator("p").allTextContents()).length, 2);
  await page.screenshot({ path: join(SHOTS, "page-cpu-compare.png"), fullPage: true });
  const pair = await download(page, "Download PNG");
  writeFileSync(join(SHOTS, "page-download-compare.png"), pair);
  assert.deepEqual([pair.readUInt32BE(16), pair.readUInt32BE(20)], [2 * 451, 300], "both panels side by side");
  await page.getByRole("combobox", { name: "Compare with" }).selectOption("");
  await settled(page);

  // Two classes at once, each with its own colour and box.
  const search = page.getByRole("combobox", { name: "Class" });
  await search.fill("Egyptian");
  await page.getByRole("option", { name: /^Egyptian cat/ }).waitFor();
  await search.press("ArrowDown");
  await search.press("ArrowUp");
  await search.press("Enter");
  await page.getByRole("button", { name: "Explain" }).click();
  await settled(page);
  const lines = await results.locator("p").allTextContents();
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[1], /Egyptian cat \(285\)/);
  const boxes = await page.locator(".stage .boxes rect").count();
  assert.equal(boxes, 4, "two boxes, each with its dark outline");
  const colours = await page.evaluate(() => window.thinktwice.state.stages[0].run.classes.map((c) => c.colour));
  assert.equal(new Set(colours).size, 2, `each class its colour: ${colours}`);
  await page.screenshot({ path: join(SHOTS, "page-cpu-two-classes.png"), fullPage: true });

  // A bad file: a message, and the next photo works.
  await page.getByLabel("Choose an image").setInputFiles({ name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("not an image") });
  await page.waitForFunction(() => /Cannot use broken\.jpg/.test(document.getElementById("message").textContent));
  assert.match(await page.getByRole("alert").textContent(), /cannot read image/);
  await page.getByLabel("Choose an image").setInputFiles({ name: "coffee.png", mimeType: "image/png", buffer: sample("coffee.png") });
  await page.waitForFunction(() => document.getElementById("message").textContent === "");
  await settled(page);
  assert.deepEqual(await topClasses(page), cliTop5("coffee.png"));

  // A photo dropped onto the page.
  await page.evaluate((bytes) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(bytes)], "astronaut.png", { type: "image/png" }));
    document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  }, [...sample("astronaut.png")]);
  await page.waitForFunction(() => window.thinktwice.state.image?.name === "astronaut.png");
  await settled(page);
  assert.deepEqual(await topClasses(page), cliTop5("astronaut.png"));

  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

test("page on the CPU: the second look zooms in on a small cat, frame by frame", { timeout: 900_000 }, async () => {
  const { page, requests, errors } = await open("index.html?backend=cpu");
  await settled(page);
  // The tabby photo small in a corner of a grey 640 × 480 picture, made in the page itself.
  const bytes = await page.evaluate(async () => {
    const photo = new Image();
    photo.src = "pkg/samples/chelsea.png";
    await photo.decode();
    const canvas = new OffscreenCanvas(640, 480);
    const g = canvas.getContext("2d");
    g.fillStyle = "rgb(150, 150, 150)";
    g.fillRect(0, 0, 640, 480);
    g.drawImage(photo, 400, 300, 180, 120);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer())];
  });
  await page.getByLabel("Choose an image").setInputFiles({ name: "small-cat.png", mimeType: "image/png", buffer: Buffer.from(bytes) });
  await settled(page);
  await page.getByRole("button", { name: /^Remove / }).click();
  const search = page.getByRole("combobox", { name: "Class" });
  await search.fill("tabb");
  await page.getByRole("option", { name: /^tabby/ }).waitFor();
  await search.press("Enter");
  await page.getByRole("button", { name: "Explain" }).click();
  await settled(page);
  const seen = await page.evaluate(() => {
    const stage = window.thinktwice.state.stages[0];
    const frames = stage.frames();
    const norm = (m) => { const top = Math.max(...m); return Array.from(m, (v) => v / (top || 1)); };
    const [a, b] = [norm(frames[0].map), norm(frames.at(-1).map)];
    return {
      looks: frames.map((f) => f.look),
      regions: frames.map((f) => f.region),
      boxes: stage.run.results[0].looks.map((l) => l.box),
      final: stage.run.results[0].box,
      change: a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length,
      dashed: document.querySelectorAll(".stage .boxes rect.looking").length,
      text: document.getElementById("results").textContent,
    };
  });
  const area = (r) => (r.x1 - r.x0) * (r.y1 - r.y0);
  assert.ok(Math.max(...seen.looks) >= 1, `a closer look was taken: looks ${seen.looks}`);
  assert.ok(area(seen.regions.at(-1)) < 0.5 * 640 * 480, `the last look sees a crop: ${JSON.stringify(seen.regions.at(-1))}`);
  assert.ok(area(seen.final) < area(seen.boxes[0]), `the box tightens: ${JSON.stringify(seen.boxes)}`);
  assert.ok(seen.final.x0 >= 320 && seen.final.y0 >= 240, `the box is on the cat: ${JSON.stringify(seen.final)}`);
  assert.ok(seen.change > 0.02, `the drawn map changes between the first and the last frame (mean |Δ| ${seen.change})`);
  assert.equal(seen.dashed, 2, "the crop the last look sees is outlined (dashed, with its dark outline)");
  assert.match(seen.text, /looked \d times, each closer/);
  await page.screenshot({ path: join(SHOTS, "page-cpu-closer.png"), fullPage: true });
  // A frame of the first closer look, as a visitor steps back to it.
  const firstCloser = seen.looks.indexOf(1);
  await page.getByRole("slider", { name: "Iteration" }).fill(String(firstCloser));
  await page.screenshot({ path: join(SHOTS, "page-cpu-closer-look2.png"), fullPage: true });
  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

test("page on WebGPU where the browser has it, and readable at 360 px", { timeout: 900_000 }, async () => {
  const { page, requests, errors } = await open("index.html", { width: 360, height: 800 });
  await settled(page);
  const hasGpu = await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
  const badge = await page.locator("#badge").textContent();
  if (hasGpu) assert.match(badge, /WebGPU/);
  else assert.match(badge, /CPU/);
  assert.deepEqual(await topClasses(page), cliTop5());
  assert.match(await page.getByRole("region", { name: "Results" }).textContent(), /box x/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 360 px screen`);
  await page.screenshot({ path: join(SHOTS, `page-${hasGpu ? "webgpu" : "fallback"}-360px.png`), fullPage: true });
  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

test("two <think-twice> widgets on a page of text share one engine and end done", { timeout: 900_000 }, async () => {
  const { page, requests, errors } = await open("www/embed-example.html?backend=cpu");
  await page.evaluate(() => {
    window.done = [];
    document.addEventListener("think-twice-done", (e) => window.done.push(e.detail));
  });
  await page.waitForFunction(() => [...document.querySelectorAll("think-twice")].every((w) => ["done", "error"].includes(w.getAttribute("state"))),
    null, { timeout: 600_000, polling: 200 });
  const states = await page.$$eval("think-twice", (ws) => ws.map((w) => w.getAttribute("state")));
  assert.deepEqual(states, ["done", "done"]);
  const done = await page.evaluate(() => window.done);
  assert.deepEqual(done.map((d) => d.classes[0].name).sort(), ["espresso", "tiger cat"]);
  for (const d of done) assert.ok(d.classes[0].box, JSON.stringify(d));
  const weightFetches = requests.filter((r) => r.url().endsWith(".safetensors")).length;
  assert.equal(weightFetches, 1, "one weight download for both widgets");
  await page.screenshot({ path: join(SHOTS, "widgets.png"), fullPage: true });
  assert.deepEqual(errors, []);
  onlyOwnOrigin(requests);
  await page.close();
});

test("a reload works offline after the first visit", { timeout: 900_000 }, async () => {
  const { page, errors } = await open("index.html?backend=cpu");
  await settled(page);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(async () => (await (await caches.open("thinktwice-app-v1")).keys()).length >= 10);
  await page.context().setOffline(true);
  await page.reload();
  await settled(page);
  assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await page.locator("#message").textContent());
  assert.deepEqual(await topClasses(page), cliTop5());
  await page.context().setOffline(false);
  // Offline, the browser logs each network attempt that the caches then answer.
  assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e)), []);
  await page.close();
});

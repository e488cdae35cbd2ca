// The <think-twice> widget on a lesson page of another origin, as a teacher embeds it: the site
// (www/, pkg/) on http://127.0.0.1:A with CORS, as most static hosts serve it, and the lesson on
// http://localhost:B loading the widget module from the site. It must reach `done` with the same
// boxes as on the site's own origin; a broken photo and a missing weight file each end in
// state="error" with a visible message and a think-twice-error event.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SHOTS, launch, serve } from "./harness.mjs";

let site, brokenSite, lessons, browser;
let generated = ""; // the code "Copy embed code" gave, as a lesson page's body

// A lesson page: one widget per spec, from the widget module at `from`.
const lesson = (from, widgets) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lesson</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script type="module" src="${from}www/think-twice.js"></script></head>
<body><h1>Where does a network look?</h1><p>A lesson page on another site.</p>
${widgets.map((w) => `<think-twice ${w}></think-twice>`).join("\n")}</body></html>`;

before(async () => {
  site = await serve((path) => (path === "same-origin.html" ? { html: lesson("/", [`src="pkg/samples/chelsea.png" classes="tiger cat" method="cam" backend="cpu"`]) } : null), { cors: true });
  // The same site with its weight file gone.
  brokenSite = await serve((path) => (path.endsWith(".safetensors") ? { path: "no-such-file" } : null), { cors: true });
  lessons = await serve((path) => {
    const from = site.base, broken = brokenSite.base;
    if (path === "lesson.html") return { html: lesson(from, [`src="${from}pkg/samples/chelsea.png" classes="tiger cat" method="cam" backend="cpu"`]) };
    if (path === "bad-photo.html") return { html: lesson(from, [`src="${from}pkg/samples/no-such-photo.png" classes="tiger cat" method="cam" backend="cpu"`]) };
    if (path === "iframe.html") {
      const query = "src=pkg/samples/chelsea.png&classes=tiger%20cat&method=cam&backend=cpu";
      return { html: `<!doctype html><title>Lesson</title><h1>A lesson</h1><iframe src="${from}embed.html?${query}" width="360" height="640" style="border:0"></iframe>` };
    }
    if (path === "imagine.html") return { html: lesson(from, [`mode="imagine" classes="flamingo" iterations="40" backend="cpu"`]) };
    if (path === "generated.html") return { html: `<!doctype html><title>Lesson</title><h1>A lesson</h1>${generated}` };
    if (path === "no-weights.html") return { html: lesson(broken, [`src="${from}pkg/samples/chelsea.png" classes="tiger cat" method="cam" backend="cpu"`]) };
    return null;
  }, { host: "localhost" });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const s of [site, brokenSite, lessons]) s?.server.close();
});

// Opens `url` and waits until every widget has ended; their states, boxes, messages and error events.
async function widgetsAt(url, { width = 1280 } = {}) {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    window.widgetErrors = [];
    document.addEventListener("think-twice-error", (e) => window.widgetErrors.push(e.detail));
    document.addEventListener("think-twice-done", (e) => { window.widgetDone = e.detail; });
  });
  await page.goto(url);
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll("think-twice")];
    return all.length && all.every((w) => ["done", "error"].includes(w.getAttribute("state")));
  }, null, { timeout: 300_000, polling: 200 });
  const seen = await page.evaluate(() => ({
    states: [...document.querySelectorAll("think-twice")].map((w) => w.getAttribute("state")),
    messages: [...document.querySelectorAll("think-twice")].map((w) => w.shadowRoot.querySelector(".status").textContent),
    done: window.widgetDone,
    events: window.widgetErrors,
  }));
  return { page, seen, errors };
}

test("the widget from another origin reaches done with the same boxes as on its own origin", { timeout: 600_000 }, async () => {
  assert.notEqual(new URL(site.base).origin, new URL(lessons.base).origin);
  const same = await widgetsAt(site.base + "same-origin.html");
  assert.deepEqual(same.seen.states, ["done"], same.seen.messages.join(" | "));
  const other = await widgetsAt(lessons.base + "lesson.html");
  assert.deepEqual(other.seen.states, ["done"], other.seen.messages.join(" | "));
  assert.deepEqual(other.seen.done.classes.map((c) => c.box), same.seen.done.classes.map((c) => c.box));
  assert.deepEqual(other.errors, []);
  await other.page.screenshot({ path: join(SHOTS, "lesson-cross-origin.png"), fullPage: true });
  await same.page.close();
  await other.page.close();
  const narrow = await widgetsAt(lessons.base + "lesson.html", { width: 360 });
  assert.deepEqual(narrow.seen.states, ["done"]);
  const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the lesson scrolls sideways by ${overflow} px at 360 px`);
  await narrow.page.screenshot({ path: join(SHOTS, "lesson-cross-origin-360px.png"), fullPage: true });
  await narrow.page.close();
});

// The widget inside an iframe of embed.html: its state, boxes and message.
async function iframeWidget(page) {
  const frame = page.frames().find((f) => f.url().includes("embed.html"));
  await frame.waitForFunction(() => ["done", "error"].includes(document.querySelector("think-twice")?.getAttribute("state")), null, { timeout: 300_000, polling: 200 });
  return frame.evaluate(() => {
    const w = document.querySelector("think-twice");
    return { state: w.getAttribute("state"), message: w.shadowRoot.querySelector(".status").textContent, width: w.getBoundingClientRect().width };
  });
}

test("the iframe form (embed.html) fills a 360 px frame on another origin and reaches done", { timeout: 600_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 800, height: 900 } });
  await page.goto(lessons.base + "iframe.html");
  const seen = await iframeWidget(page);
  assert.equal(seen.state, "done", seen.message);
  assert.match(seen.message, /cam · tiger cat: box \d+,\d+ – \d+,\d+ px/);
  assert.ok(seen.width >= 320 && seen.width <= 360, `the widget fills its 360 px frame: ${seen.width} px`);
  // The same boxes as the tag form on the site's own origin.
  const same = await widgetsAt(site.base + "same-origin.html");
  const b = same.seen.done.classes[0].box;
  assert.ok(seen.message.includes(`box ${Math.round(b.x0)},${Math.round(b.y0)} – ${Math.round(b.x1)},${Math.round(b.y1)} px`), `${seen.message} vs ${JSON.stringify(b)}`);
  await page.screenshot({ path: join(SHOTS, "lesson-iframe.png"), fullPage: true });
  await same.page.close();
  await page.close();
});

test("Copy embed code on the page gives a tag and an iframe that both work on another origin", { timeout: 900_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(site.base + "index.html?backend=cpu");
  await page.waitForFunction(() => document.body.dataset.state === "done", null, { timeout: 600_000, polling: 200 });
  await page.getByRole("combobox", { name: "Method" }).selectOption("cam");
  await page.waitForFunction(() => document.body.dataset.state === "done" && !document.getElementById("copy-embed").disabled, null, { timeout: 600_000 });
  await page.getByRole("button", { name: "Copy embed code" }).click();
  const tag = await page.getByLabel(/As a tag/).inputValue();
  const iframe = await page.getByLabel(/As an iframe/).inputValue();
  assert.match(tag, /<script type="module" src="http:\/\/127\.0\.0\.1:\d+\/www\/think-twice\.js"><\/script>/);
  assert.match(tag, /<think-twice src="http:\/\/127\.0\.0\.1:\d+\/pkg\/samples\/chelsea\.png" classes="[^"]+" method="cam" autoplay><\/think-twice>/);
  assert.match(iframe, /<iframe src="http:\/\/127\.0\.0\.1:\d+\/embed\.html\?src=[^"]*chelsea\.png&amp;classes=[^"]+&amp;method=cam&amp;autoplay"/);
  await page.screenshot({ path: join(SHOTS, "page-embed-code.png"), fullPage: true });
  await page.close();
  // Both forms, pasted into a lesson page of another origin, end done.
  generated = tag.replace("autoplay>", 'autoplay backend="cpu">') + "\n" + iframe.replace("&amp;autoplay", "&amp;autoplay&amp;backend=cpu");
  const lesson = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await lesson.goto(lessons.base + "generated.html");
  await lesson.waitForFunction(() => document.querySelector("think-twice")?.getAttribute("state") === "done", null, { timeout: 300_000, polling: 200 });
  assert.equal((await iframeWidget(lesson)).state, "done");
  await lesson.close();
});

test("mode=imagine grows the class's picture in a widget on another origin", { timeout: 600_000 }, async () => {
  const { page, seen, errors } = await widgetsAt(lessons.base + "imagine.html");
  assert.deepEqual(seen.states, ["done"], seen.messages.join(" | "));
  assert.equal(seen.done.mode, "imagine");
  assert.equal(seen.done.class, 130);
  assert.match(seen.messages[0], /flamingo: \d+\.\d% after 40 steps/);
  // The picture is drawn: not the grey it starts from.
  const spread = await page.evaluate(() => {
    const canvas = document.querySelector("think-twice").shadowRoot.querySelector("canvas.imagine");
    const data = canvas.getContext("2d").getImageData(0, 0, 224, 224).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < data.length; i += 4) { lo = Math.min(lo, data[i]); hi = Math.max(hi, data[i]); }
    return hi - lo;
  });
  assert.ok(spread > 60, `the grown picture has contrast (red channel spans ${spread} levels)`);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: join(SHOTS, "lesson-imagine.png"), fullPage: true });
  await page.close();
});

test("a broken photo and a missing weight file end in state error with a message and an event", { timeout: 600_000 }, async () => {
  const photo = await widgetsAt(lessons.base + "bad-photo.html");
  assert.deepEqual(photo.seen.states, ["error"]);
  assert.match(photo.seen.messages[0], /cannot fetch .*no-such-photo\.png: 404/);
  assert.equal(photo.seen.events.length, 1);
  await photo.page.close();
  const weights = await widgetsAt(lessons.base + "no-weights.html");
  assert.deepEqual(weights.seen.states, ["error"]);
  assert.match(weights.seen.messages[0], /thinktwice: .*(weights|safetensors|download)/i);
  assert.equal(weights.seen.events[0]?.code, "bad-weights", JSON.stringify(weights.seen.events));
  await weights.page.screenshot({ path: join(SHOTS, "lesson-no-weights.png"), fullPage: true });
  await weights.page.close();
});

// The page: takes a photo (file, drop, paste, samples), shows the top classes, lets the visitor
// pick classes and methods, and draws every feedback iteration as it arrives. All computing
// happens in the engine's worker (client.js); photos are decoded there and never uploaded.
import { Animator } from "./animator.js";
import { EngineClient } from "./client.js";
import { classSearch } from "./elements/class-search.js";
import { Stage } from "./elements/stage.js";
import "./elements/transport.js";
import { explainInto } from "./explain.js";
import { drawLegend, relativeTop, topOf, usePalette } from "./render/heatmap.js";
import { drawPicture } from "./render/overlay.js";

const $ = (id) => document.getElementById(id);
const SAMPLES = new URL("../pkg/samples/", import.meta.url);

const state = {
  engine: null,
  info: null,
  image: null, // {bytes, name, url, width, height}
  top: [],
  chosen: [], // class indices, each drawn in the class colour of its position
  stages: [],
  runId: 0,
  perIterationMs: null,
  threshold: null, // the box threshold the visitor chose; null: each method's tuned one
};
const animator = new Animator(drawAll);

function message(text, isError = true) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError && !!text);
}

const setState = (s) => {
  document.body.dataset.state = s;
  updateTransport();
};
const className = (i) => state.info.classes[i].split(", ")[0];
const colours = () => state.info.constants.classColours;
const colourOf = (i) => colours()[Math.max(0, state.chosen.indexOf(i)) % colours().length];
const cancelled = (e) => e.code === state.engine.codes?.cancelled;
const percent = (p) => `${(100 * p).toFixed(p < 0.001 ? 2 : 1)}%`;

function showBadge() {
  const info = state.engine.ready;
  const badge = $("badge");
  const name = info.backend === "gpu" ? "WebGPU" : "CPU";
  const detail = info.backend === "gpu" ? info.adapter : info.fallbackReason;
  badge.textContent = name + (state.perIterationMs ? ` · ${Math.round(state.perIterationMs)} ms per iteration` : "");
  badge.title = detail ? `${name}: ${detail}` : name;
  badge.dataset.backend = info.backend;
}

// ---- the photo ----------------------------------------------------------------------------

async function takeImage(bytes, name) {
  message("");
  setState("running");
  let classified;
  try {
    classified = await state.engine.classify(bytes, 5);
  } catch (e) {
    if (cancelled(e)) return;
    message(`Cannot use ${name}: ${e.message}`);
    setState(state.image ? "done" : "error");
    return;
  }
  if (state.image) URL.revokeObjectURL(state.image.url);
  state.image = { bytes, name, url: URL.createObjectURL(new Blob([bytes])), width: classified.width, height: classified.height };
  state.top = classified.top;
  state.chosen = [classified.top[0].index];
  renderTop();
  renderChosen();
  await explain(); // makes the panels for the new photo
}

async function takeFile(file) {
  if (!file) return;
  if (file.size > 64e6) return message(`${file.name} is ${(file.size / 1e6).toFixed(0)} MB: photos up to 64 MB, please.`);
  takeImage(await file.arrayBuffer(), file.name);
}

async function takeSample(name) {
  const response = await fetch(new URL(name, SAMPLES));
  if (!response.ok) return message(`The sample ${name} is missing (${response.status}).`);
  await takeImage(await response.arrayBuffer(), `sample: ${name}`);
}

// ---- classes ------------------------------------------------------------------------------

function renderTop() {
  $("top").replaceChildren(...state.top.map((p) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.index = p.index;
    button.setAttribute("aria-pressed", String(state.chosen.includes(p.index)));
    button.innerHTML = `<span class="name"></span><span class="pct"></span><span class="meter"><span></span></span>`;
    button.querySelector(".name").textContent = p.name;
    button.querySelector(".pct").textContent = percent(p.probability);
    button.querySelector(".meter span").style.width = `${100 * p.probability}%`;
    button.title = `Explain ${p.name} (class ${p.index})`;
    button.addEventListener("click", () => {
      state.chosen = [p.index];
      renderTop();
      renderChosen();
      explain();
    });
    li.append(button);
    return li;
  }));
}

function renderChosen() {
  $("chosen").replaceChildren(...state.chosen.map((index) => {
    const li = document.createElement("li");
    li.style.setProperty("--colour", colourOf(index));
    li.innerHTML = `<span class="dot"></span><span class="name"></span><button type="button">×</button>`;
    li.querySelector(".name").textContent = `${className(index)} (${index})`;
    const remove = li.querySelector("button");
    remove.setAttribute("aria-label", `Remove ${className(index)}`);
    remove.addEventListener("click", () => {
      state.chosen = state.chosen.filter((c) => c !== index);
      renderChosen();
      renderTop();
    });
    return li;
  }));
  $("explain").disabled = !state.chosen.length || !state.image;
  updateImagine();
}

function choose(index) {
  if (!state.chosen.includes(index)) state.chosen = [...state.chosen, index].slice(-colours().length);
  renderChosen();
  renderTop();
}

// ---- explaining ---------------------------------------------------------------------------

function makeStages() {
  const methods = [$("method").value, $("compare").value].filter(Boolean);
  const root = $("stages");
  root.replaceChildren();
  root.classList.toggle("two", methods.length > 1);
  state.stages = methods.map((method) => {
    const el = document.createElement("div");
    root.append(el);
    const stage = new Stage(el, state.info);
    stage.method = method;
    stage.opacity = Number($("opacity").value);
    if (state.image) stage.setPhoto(state.image.url, state.image.width, state.image.height, `${state.image.name}, explained by ${method}`);
    return stage;
  });
}

async function explain() {
  if (!state.image || !state.chosen.length) return;
  const runId = ++state.runId;
  makeStages();
  animator.reset();
  message("");
  setState("running");
  $("results").replaceChildren();
  $("download-png").disabled = $("download-json").disabled = $("copy-embed").disabled = true;
  try {
    for (const stage of state.stages) {
      const request = { classes: state.chosen, method: stage.method };
      if (state.threshold !== null) request.threshold = state.threshold;
      await explainInto(state.engine, stage, animator, request, (frame) => {
        if (frame.iteration > 0) {
          state.perIterationMs = frame.elapsedMs / frame.iteration;
          showBadge();
        }
        updateTransport();
      });
      if (runId !== state.runId) return;
    }
  } catch (e) {
    if (runId !== state.runId || cancelled(e)) return;
    state.stages.forEach((s) => s.busy(false));
    message(`Cannot explain: ${e.message}`);
    setState("error");
    return;
  }
  animator.count = Math.max(...state.stages.map((s) => s.count));
  if (state.threshold === null) showThreshold(state.stages[0].run.results[0].threshold, state.stages[0].run.results[0].boxRule);
  animator.finished();
  renderResults();
  $("download-png").disabled = $("download-json").disabled = $("copy-embed").disabled = false;
  setState("done");
}

// The top of the colour scale two panels share at iteration `i`, in multiples of the average
// pixel; undefined for one panel (its map on its own scale).
const sharedScale = (i) => (state.stages.length > 1 ? Math.max(0, ...state.stages.map((s) => relativeTop(s.mapAt(i)))) : undefined);

// Draws iteration `i` on every panel; side by side, both on one colour scale.
function drawAll(i) {
  const relative = sharedScale(i);
  for (const s of state.stages) s.draw(i, { relative });
  $("legend-low").textContent = relative === undefined ? "low" : "0";
  $("legend-high").textContent = relative === undefined ? "high (this map's top 1%)" : `${relative.toFixed(0)}× the average pixel`;
  updateTransport();
}

// ---- the class's own picture (class model visualisation) -----------------------------------

const imagining = { running: false, name: "" };

function updateImagine() {
  const cls = state.chosen[0];
  $("imagine-class").textContent = cls === undefined ? "a class" : `a ${className(cls)}`;
  $("imagine-start").disabled = cls === undefined || imagining.running || document.body.dataset.state === "running";
  $("imagine-stop").disabled = !imagining.running;
}

async function imagine() {
  const cls = state.chosen[0];
  if (cls === undefined) return;
  Object.assign(imagining, { running: true, name: className(cls) });
  $("imagine").dataset.state = "running";
  $("imagine-download").disabled = true;
  updateImagine();
  let last = null;
  try {
    const grown = await state.engine.visualize({ classes: String(cls), iterations: 150 }, (step) => {
      last = step;
      if (step.picture) drawPicture($("imagine-canvas"), step.picture);
      $("imagine-text").textContent = `Step ${step.iteration} of 150: ${imagining.name} ${percent(step.probability)}`;
    });
    drawPicture($("imagine-canvas"), grown.picture);
    $("imagine-text").textContent = `${grown.name}: the network gives this picture ${percent(grown.probability)} after ${grown.iterations} steps.`;
    $("imagine").dataset.state = "done";
    $("imagine").dataset.probability = String(grown.probability);
    $("imagine-download").disabled = false;
  } catch (e) {
    $("imagine").dataset.state = cancelled(e) ? "stopped" : "error";
    $("imagine-text").textContent = cancelled(e) ? `Stopped at step ${last?.iteration ?? 0}.` : `Cannot grow the picture: ${e.message}`;
  } finally {
    imagining.running = false;
    updateImagine();
  }
}

function updateTransport() {
  updateImagine();
  $("transport").update(document.body.dataset.state === "running");
}

// "· 93.1%": the probability of the first panel's class in focus at iteration i.
function describeIteration(i) {
  const f = state.stages[0]?.frameAt(i);
  return f ? ` · ${percent(f.probability)}` : "";
}

// The box threshold: a share of the map's peak, or (rule "mass") of its total mass.
function showThreshold(threshold, rule = state.boxRule) {
  state.boxRule = rule ?? "peak";
  $("threshold").value = String(threshold);
  $("threshold-text").textContent = `${Math.round(threshold * 100)}% of the ${state.boxRule === "mass" ? "mass" : "peak"}`;
}

// Boxes at the chosen threshold for every frame and result, from the engine (same code as the CLI).
async function rebox() {
  const threshold = state.threshold;
  for (const stage of state.stages) {
    if (!stage.run?.results) continue;
    stage.boxOverride.clear();
    for (const result of stage.run.results) {
      result.box = await state.engine.boxOf(result.map, result.mapWidth, threshold, result.sigma, result.boxRule);
      result.threshold = threshold;
      const frames = stage.frames(result.class);
      for (const [i, frame] of frames.entries()) {
        const box = i === frames.length - 1 ? result.box : frame.map && (await state.engine.boxOf(frame.map, frame.mapWidth, threshold, result.sigma, result.boxRule));
        stage.boxOverride.set(`${result.class}/${i}`, box);
      }
    }
  }
}

// How much closer a look's crop is than the whole photo, e.g. "2.4× closer".
const lookZoom = (look) => {
  const r = look.region;
  const zoom = Math.sqrt((state.image.width * state.image.height) / Math.max(1, (r.x1 - r.x0) * (r.y1 - r.y0)));
  return `${zoom.toFixed(1)}× closer`;
};

function renderResults() {
  const lines = [];
  for (const stage of state.stages) {
    for (const r of stage.run?.results ?? []) {
      const p = document.createElement("p");
      p.style.setProperty("--colour", colourOf(r.class));
      const frames = stage.frames(r.class);
      const b = r.box;
      const where = b ? `box x ${Math.round(b.x0)}–${Math.round(b.x1)}, y ${Math.round(b.y0)}–${Math.round(b.y1)} px (of ${state.image.width}×${state.image.height})` : "no box (empty map)";
      const change = frames.length > 1 ? `, probability ${percent(frames[0].probability)} → ${percent(frames.at(-1).probability)} over ${frames.length - 1} iteration${frames.length === 2 ? "" : "s"}` : `, probability ${percent(r.probability)}`;
      const looks = r.looks?.length > 1 ? `; looked ${r.looks.length} times, each closer (last crop ${lookZoom(r.looks.at(-1))})` : "";
      p.innerHTML = `<button type="button" class="focus"></button> <span></span>`;
      const button = p.querySelector("button");
      button.textContent = `${r.name} (${r.class})`;
      button.setAttribute("aria-pressed", String(stage.run.focus === r.class));
      button.title = "Show this class's map";
      button.addEventListener("click", () => {
        stage.run.focus = r.class;
        drawAll(animator.current);
        renderResults();
      });
      p.querySelector("span").textContent = `${stage.method}: ${where}${change}${looks}.`;
      lines.push(p);
    }
  }
  $("results").replaceChildren(...lines);
}

// ---- embedding ----------------------------------------------------------------------------

// The two ways to put what is on screen (photo, classes, method) on another page: the widget's tag,
// with its module from this site, and an iframe of embed.html for pages that allow no scripts.
function embedCode() {
  const site = new URL(".", location.href);
  const sample = state.image.name.startsWith("sample: ") ? new URL(state.image.name.slice(8), SAMPLES).href : null;
  const photo = sample ?? "your-photo.jpg";
  // A class by its name when that name is unique, else by its index (two classes are called "crane").
  const spec = state.chosen.map((i) => (state.info.classes.filter((c) => c.split(", ")[0] === className(i)).length === 1 ? className(i) : String(i))).join(", ");
  const method = state.stages[0].method;
  const attr = (s) => s.replaceAll("&", "&amp;").replaceAll('"', "&quot;");
  const tag = `<script type="module" src="${new URL("www/think-twice.js", site).href}"></script>\n` +
    `<think-twice src="${attr(photo)}" classes="${attr(spec)}" method="${attr(method)}" autoplay></think-twice>`;
  const query = new URLSearchParams({ src: photo, classes: spec, method });
  const iframe = `<iframe src="${attr(new URL(`embed.html?${query}&autoplay`, site).href)}" width="640" height="760" ` +
    `style="border: 0; max-width: 100%" title="thinktwice: where does the network look for ${attr(spec)}?"></iframe>`;
  const note = sample ? "" : "Your photo is not on any site: put it next to your page (tag) or on this site (iframe) and write its address for your-photo.jpg, or leave src out of the iframe's address to let visitors drop their own.";
  return { tag, iframe, note };
}

async function copyEmbedCode() {
  const { tag, iframe, note } = embedCode();
  $("embed-tag").value = tag;
  $("embed-iframe").value = iframe;
  $("embed-code").hidden = false;
  try {
    await navigator.clipboard.writeText(`${tag}\n\n${iframe}\n`);
    $("embed-note").textContent = `Copied both forms to the clipboard. ${note}`;
  } catch {
    $("embed-note").textContent = `Select a form below and copy it. ${note}`;
  }
}

// ---- downloads ----------------------------------------------------------------------------

const stem = () => state.image.name.replace(/^sample: /, "").replace(/\.[^.]*$/, "") || "image";

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function report() {
  const run = (stage) => stage.run.results.map((r) => ({
    class: r.class, name: r.name, score: r.score, probability: r.probability, box: r.box, peak: r.peak, trace: r.trace, looks: r.looks,
  }));
  // Every frame as `thinktwice localize` writes it: look, region, iteration, probability, box.
  const frames = (stage) => stage.run.classes.flatMap((c) => stage.frames(c.index).map((f) => ({
    class: f.class, look: f.look, region: f.region, iteration: f.iteration, score: f.score, probability: f.probability,
    openFraction: f.openFraction, box: f.box, elapsedMs: f.elapsedMs,
  })));
  const [first, second] = state.stages;
  return {
    image: state.image.name.replace(/^sample: /, ""),
    width: state.image.width,
    height: state.image.height,
    method: first.method,
    framing: "whole",
    backend: state.engine.ready.backend,
    threshold: state.stages[0].run.results[0].threshold,
    boxRule: state.stages[0].run.results[0].boxRule,
    classes: run(first),
    frames: frames(first),
    ...(second ? { compare: { method: second.method, classes: run(second) } } : {}),
  };
}

// The overlay PNG of every panel side by side at the iteration shown, each drawn by the library
// as `thinktwice localize` draws it (photo, heat map, legend, labelled boxes).
async function downloadPng() {
  const relative = sharedScale(animator.current);
  const parts = [];
  for (const stage of state.stages) {
    const shown = stage.mapAt(animator.current);
    if (!shown) continue;
    const classes = stage.run.classes.map((c) => {
      const result = stage.run.results.find((r) => r.class === c.index);
      return { class: c.index, probability: result?.probability ?? 0, box: stage.boxesAt(animator.current, () => "").find((b) => b.colour === c.colour)?.box ?? null };
    });
    const request = { method: stage.method, classes, opacity: stage.opacity };
    if (relative !== undefined) Object.assign(request, { top: topOf(shown, relative), legend: `${relative.toFixed(0)}x average` });
    const { width, height, rgba } = await state.engine.overlay(shown.map, request);
    parts.push(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height));
  }
  const canvas = document.createElement("canvas");
  canvas.width = parts.reduce((w, p) => w + p.width, 0);
  canvas.height = Math.max(...parts.map((p) => p.height));
  let x = 0;
  for (const p of parts) { canvas.getContext("2d").putImageData(p, x, 0); x += p.width; }
  canvas.toBlob((blob) => save(blob, `${stem()}.${state.stages.map((s) => s.method).join("-vs-")}.png`), "image/png");
}

// ---- start --------------------------------------------------------------------------------

// What the engine says once: the method menus and their descriptions (the library's method
// table), the colours, the default opacity.
function showConstants({ methods, constants }) {
  usePalette(constants.palette);
  drawLegend($("legend"));
  $("opacity").value = String(constants.opacity);
  $("imagine-canvas").width = $("imagine-canvas").height = constants.inputSize;
  for (const m of methods) {
    $("method").add(new Option(m.label, m.name));
    if (!m.alias) $("compare").add(new Option(m.label, m.name));
  }
  $("method-list").replaceChildren(...methods.filter((m) => !m.alias).flatMap((m) => {
    const term = document.createElement("dt");
    term.textContent = m.label;
    const about = document.createElement("dd");
    about.textContent = m.about;
    return [term, about];
  }));
}

function wire() {
  $("file").addEventListener("change", (e) => takeFile(e.target.files[0]).finally(() => { e.target.value = ""; }));
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    takeFile(e.dataTransfer?.files?.[0]);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (file) takeFile(file);
  });
  for (const b of document.querySelectorAll("[data-sample]")) b.addEventListener("click", () => takeSample(b.dataset.sample));
  $("explain").addEventListener("click", explain);
  $("method").addEventListener("change", () => {
    state.threshold = null; // each method boxes by its own tuned rule and threshold
    if (state.image) explain();
  });
  $("compare").addEventListener("change", () => state.image && explain());
  $("transport").attach(animator, describeIteration);
  animator.addEventListener("change", updateImagine);
  $("opacity").addEventListener("input", (e) => {
    for (const s of state.stages) s.opacity = Number(e.target.value);
    drawAll(animator.current);
  });
  let reboxing = Promise.resolve();
  $("threshold").addEventListener("input", () => {
    state.threshold = Number($("threshold").value);
    showThreshold(state.threshold);
    if (document.body.dataset.state !== "done") return; // the next run uses it
    reboxing = reboxing.then(rebox).then(() => { drawAll(animator.current); renderResults(); }).catch((e) => message(e.message));
  });
  $("download-json").addEventListener("click", () => save(new Blob([JSON.stringify(report(), null, 2)], { type: "application/json" }), `${stem()}.${state.stages[0].method}.json`));
  $("download-png").addEventListener("click", () => downloadPng().catch((e) => message(`Cannot make the PNG: ${e.message}`)));
  $("copy-embed").addEventListener("click", copyEmbedCode);
  $("imagine-start").addEventListener("click", imagine);
  $("imagine-stop").addEventListener("click", () => state.engine.abort());
  $("imagine-download").addEventListener("click", () => $("imagine-canvas").toBlob((b) => b && save(b, `${imagining.name.replace(/\W+/g, "-")}.visualize.png`), "image/png"));
}

async function main() {
  setState("loading");
  // Offline after the first visit: the app's own files from a service worker (sw.js), the
  // weights from the engine's cache. A page opened from a file or an old browser simply has none.
  navigator.serviceWorker?.register(new URL("../sw.js", import.meta.url)).catch(() => {});
  const backend = new URLSearchParams(location.search).get("backend") === "cpu" ? "cpu" : "auto";
  state.engine = new EngineClient({ backend });
  state.engine.addEventListener("progress", ({ detail: { loaded, total } }) => {
    $("model-progress").value = loaded / total;
    $("model-size").textContent = `${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
    $("badge").textContent = "Downloading the model…";
  });
  state.engine.addEventListener("ready", showBadge);
  state.engine.addEventListener("fallback", ({ detail }) => {
    message(`The GPU stopped (${detail.reason}); continuing on the CPU.`, false);
    state.engine.loading.then(showBadge);
  });
  wire();
  try {
    state.info = await state.engine.load();
  } catch (e) {
    $("badge").textContent = "Not loaded";
    $("download").hidden = true;
    message(`The model could not load: ${e.message}`);
    setState("error");
    return;
  }
  $("download").hidden = true;
  showBadge();
  showConstants(state.info);
  classSearch($("class-search"), $("class-options"), state.info.classes, choose);
  window.thinktwice = { engine: state.engine, state, animator };
  document.body.dataset.ready = "true";
  await takeSample("chelsea.png");
}

main().catch((e) => {
  message(`thinktwice could not start: ${e.message ?? e}`);
  setState("error");
});

// The page: takes a photo (file, drop, paste, samples), shows the top classes, lets the visitor
// pick classes and methods, and draws every feedback iteration as it arrives. All computing
// happens in the engine's worker (client.js); photos are decoded there and never uploaded.
import { Animator } from "./animator.js";
import { EngineClient } from "./client.js";
import { classSearch } from "./elements/class-search.js";
import { Stage } from "./elements/stage.js";
import "./elements/transport.js";
import { explainInto } from "./explain.js";
import { overlayPng, percent, reportJson, save } from "./page/downloads.js";
import { embedCode } from "./page/embed-code.js";
import { ImaginePanel } from "./page/imagine.js";
import { drawLegend, relativeTop, topOf, usePalette } from "./render/heatmap.js";

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
let imagine = null; // the class-picture panel, once the engine is made

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

// The class-picture panel grows the first chosen class, while no explanation runs.
function updateImagine() {
  const cls = state.chosen[0];
  imagine?.update(cls === undefined ? undefined : { index: cls, name: className(cls) }, document.body.dataset.state === "running");
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

async function copyEmbedCode() {
  const sample = state.image.name.startsWith("sample: ") ? new URL(state.image.name.slice(8), SAMPLES).href : null;
  const { tag, iframe, note } = embedCode({ site: new URL(".", location.href), sample, classes: state.info.classes, chosen: state.chosen, method: state.stages[0].method });
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

function downloadJson() {
  return reportJson(state.engine, state.image.name.replace(/^sample: /, ""), state.stages)
    .then((json) => save(new Blob([json], { type: "application/json" }), `${stem()}.${state.stages[0].method}.json`));
}

// Side by side, both panels on the colour scale they are drawn with.
async function downloadPng() {
  const relative = sharedScale(animator.current);
  const shared = relative === undefined ? null : { relative, top: (shown) => topOf(shown, relative) };
  const blob = await overlayPng(state.engine, state.stages, animator.current, shared);
  save(blob, `${stem()}.${state.stages.map((s) => s.method).join("-vs-")}.png`);
}

// ---- start --------------------------------------------------------------------------------

// What the engine says once: the method menus and their descriptions (the library's method
// table), the colours, the default opacity.
function showConstants({ methods, constants }) {
  usePalette(constants.palette);
  drawLegend($("legend"));
  $("opacity").value = String(constants.opacity);
  imagine.setSize(constants.inputSize);
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
  $("download-json").addEventListener("click", () => downloadJson().catch((e) => message(`Cannot make the JSON: ${e.message}`)));
  $("download-png").addEventListener("click", () => downloadPng().catch((e) => message(`Cannot make the PNG: ${e.message}`)));
  $("copy-embed").addEventListener("click", copyEmbedCode);
}

async function main() {
  setState("loading");
  // Offline after the first visit: the app's own files from a service worker (sw.js), the
  // weights from the engine's cache. A page opened from a file or an old browser simply has none.
  navigator.serviceWorker?.register(new URL("../sw.js", import.meta.url)).catch(() => {});
  const backend = new URLSearchParams(location.search).get("backend") === "cpu" ? "cpu" : "auto";
  state.engine = new EngineClient({ backend });
  imagine = new ImaginePanel($("imagine"), state.engine);
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

// The page: takes a photo (file, drop, paste, samples), shows the top classes, lets the visitor
// pick classes and methods, and draws every feedback iteration as it arrives. All computing
// happens in the engine's worker (client.js); photos are decoded there and never uploaded.
import { Animator } from "./animator.js";
import { EngineClient } from "./client.js";
import { classSearch } from "./elements/class-search.js";
import { Stage } from "./elements/stage.js";
import { asShares, drawLegend, robustMax } from "./render/heatmap.js";
import { COLOURS, drawPicture, overlayPng } from "./render/overlay.js";

const $ = (id) => document.getElementById(id);
const SAMPLES = new URL("../pkg/samples/", import.meta.url);
const FRAME_MAP_SIDE = 112; // frames carry their map at this size; results at 224

// What each method is, for the Method menu.
const METHOD_LABELS = {
  feedback: "feedback (default: look twice, then closer)",
  "feedback-closer": "feedback: look twice, then closer",
  "feedback-fsp": "feedback: selective pruning",
  "feedback-fr": "feedback: recovering",
  "feedback-hard": "feedback: hard gates",
  "feedback-soft": "feedback: soft gates",
  "feedback-twice": "feedback: look twice",
  gradient: "gradient (Simonyan)",
  deconvnet: "deconvnet",
  guided: "guided backprop",
  cam: "CAM",
  gradcam: "Grad-CAM",
};

const state = {
  engine: null,
  info: null,
  image: null, // {bytes, name, url, width, height}
  top: [],
  chosen: [], // class indices, each drawn in COLOURS[its position]
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
const colourOf = (i) => COLOURS[Math.max(0, state.chosen.indexOf(i)) % COLOURS.length];
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
    if (e.code === "cancelled") return;
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
  if (!state.chosen.includes(index)) state.chosen = [...state.chosen, index].slice(-COLOURS.length);
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
    const stage = new Stage(el, state.info.layers);
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
  const classes = state.chosen.map((index) => ({ index, name: className(index), colour: colourOf(index) }));
  try {
    for (const stage of state.stages) {
      stage.start(stage.method, classes);
      const request = { classes: state.chosen, method: stage.method, mapSize: FRAME_MAP_SIDE };
      if (state.threshold !== null) request.threshold = state.threshold;
      const results = await state.engine.explain(request, (frame) => {
        if (runId !== state.runId) return;
        stage.add(frame);
        if (animator.live) stage.run.focus = frame.class;
        if (frame.iteration > 0) {
          state.perIterationMs = frame.elapsedMs / frame.iteration;
          showBadge();
        }
        animator.added(stage.frames(frame.class).length);
        updateTransport();
      });
      if (runId !== state.runId) return;
      stage.finish(results);
      stage.run.focus = state.chosen[0];
    }
  } catch (e) {
    if (runId !== state.runId || e.code === "cancelled") return;
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

// Draws iteration `i` on every panel; side by side, both on one colour scale.
function drawAll(i) {
  const shared = state.stages.length > 1;
  let vmax;
  if (shared) vmax = Math.max(0, ...state.stages.map((s) => robustMax(s.mapAt(i, true) ?? [])));
  for (const s of state.stages) s.draw(i, { shared, vmax });
  const pixels = state.stages[0]?.mapAt(i, false)?.length ?? 1;
  $("legend-low").textContent = shared ? "0" : "low";
  $("legend-high").textContent = shared ? `${(vmax * pixels).toFixed(0)}× the average pixel` : "high (this map's top 1%)";
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
    $("imagine").dataset.state = e.code === "cancelled" ? "stopped" : "error";
    $("imagine-text").textContent = e.code === "cancelled" ? `Stopped at step ${last?.iteration ?? 0}.` : `Cannot grow the picture: ${e.message}`;
  } finally {
    imagining.running = false;
    updateImagine();
  }
}

function updateTransport() {
  updateImagine();
  const count = animator.count;
  const slider = $("iteration");
  slider.max = String(Math.max(0, count - 1));
  slider.value = String(animator.current);
  slider.disabled = count < 2;
  const frames = state.stages[0]?.frames() ?? [];
  const f = frames[Math.min(animator.current, frames.length - 1)];
  $("iteration-text").textContent = count ? `${animator.current} of ${count - 1}` + (f ? ` · ${percent(f.probability)}` : "") : "–";
  const play = $("play");
  play.textContent = animator.playing ? "❚❚" : "▶";
  play.setAttribute("aria-label", animator.playing ? "Pause" : "Play");
  play.disabled = $("back").disabled = $("forward").disabled = count < 2 || document.body.dataset.state === "running";
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
      result.box = await state.engine.boxOf(result.map, 224, threshold, 4, result.boxRule);
      result.threshold = threshold;
      const frames = stage.frames(result.class);
      for (const [i, frame] of frames.entries()) {
        const box = i === frames.length - 1 ? result.box : frame.map && (await state.engine.boxOf(frame.map, FRAME_MAP_SIDE, threshold, 4, result.boxRule));
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

async function downloadPng() {
  const photo = state.stages[0].root.querySelector(".photo");
  const shared = state.stages.length > 1;
  const parts = [];
  let vmax;
  if (shared) vmax = Math.max(...state.stages.map((s) => robustMax(s.mapAt(animator.current, true) ?? [])));
  for (const stage of state.stages) {
    const frames = stage.frames();
    const last = animator.current >= frames.length - 1;
    const result = stage.run.results.find((r) => r.class === stage.run.focus);
    // The last iteration at full resolution (the result's 224 × 224 map), others as drawn.
    const map = last && result ? (shared ? asShares(result.map) : result.map) : stage.mapAt(animator.current, shared);
    const top = shared && map ? vmax * ((FRAME_MAP_SIDE * FRAME_MAP_SIDE) / map.length) : undefined; // shares scale with 1 / pixels
    const boxes = stage.boxesAt(animator.current, (c) => `${c.name} · ${stage.method}`);
    parts.push(await createImageBitmap(await overlayPng(photo, map, top ?? (map ? robustMax(map) : 1), stage.opacity, boxes)));
  }
  const canvas = document.createElement("canvas");
  canvas.width = parts.reduce((w, p) => w + p.width, 0);
  canvas.height = parts[0].height;
  let x = 0;
  for (const p of parts) { canvas.getContext("2d").drawImage(p, x, 0); x += p.width; }
  canvas.toBlob((blob) => save(blob, `${stem()}.${state.stages.map((s) => s.method).join("-vs-")}.png`), "image/png");
}

// ---- start --------------------------------------------------------------------------------

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
  $("play").addEventListener("click", () => animator.toggle());
  $("back").addEventListener("click", () => animator.step(-1));
  $("forward").addEventListener("click", () => animator.step(1));
  $("iteration").addEventListener("input", (e) => animator.seek(Number(e.target.value)));
  animator.addEventListener("change", updateTransport);
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
  drawLegend($("legend"));
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
  for (const m of state.info.methods) {
    $("method").add(new Option(METHOD_LABELS[m] ?? m, m));
    if (m !== "feedback") $("compare").add(new Option(METHOD_LABELS[m] ?? m, m));
  }
  classSearch($("class-search"), $("class-options"), state.info.classes, choose);
  window.thinktwice = { engine: state.engine, state, animator };
  document.body.dataset.ready = "true";
  await takeSample("chelsea.png");
}

main().catch((e) => {
  message(`thinktwice could not start: ${e.message ?? e}`);
  setState("error");
});

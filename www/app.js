// Page glue: starts the engine (a Web Worker, see client.js), classifies the sample photo and any
// image given. The model never runs on this thread; images are decoded in the worker and never
// uploaded.
import { EngineClient } from "./client.js";

const SAMPLE = new URL("../pkg/samples/chelsea.png", import.meta.url);
const $ = (id) => document.getElementById(id);

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function show(predictions) {
  const list = $("predictions");
  list.replaceChildren();
  for (const p of predictions) {
    const li = document.createElement("li");
    li.dataset.index = p.index;
    li.innerHTML = `<span></span><span></span>`;
    li.children[0].textContent = `${p.name} (${p.index})`;
    li.children[1].textContent = `${(100 * p.probability).toFixed(1)}%`;
    list.append(li);
  }
}

async function classify(engine, bytes, label) {
  $("photo").src = URL.createObjectURL(new Blob([bytes]));
  $("caption").textContent = label;
  status(`Classifying on ${engine.ready.backend}…`);
  const started = performance.now();
  try {
    show((await engine.classify(bytes, 5)).top);
    status(`Done on ${engine.ready.backend} in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    $("predictions").replaceChildren();
    status(`Cannot classify ${label}: ${e.message ?? e}`, true);
  }
}

async function main() {
  const wantCpu = new URLSearchParams(location.search).get("backend") === "cpu";
  const engine = new EngineClient({ backend: wantCpu ? "cpu" : "auto" });
  engine.addEventListener("progress", ({ detail }) => {
    status(`Downloading the model: ${(detail.loaded / 1e6).toFixed(1)} of ${(detail.total / 1e6).toFixed(1)} MB…`);
  });
  engine.addEventListener("fallback", ({ detail }) => console.warn(`thinktwice: the GPU failed, continuing on the CPU: ${detail.reason}`));
  const ready = await engine.load();
  if (ready.fallbackReason) console.info(`thinktwice: using the CPU: ${ready.fallbackReason}`);
  const sample = await fetch(SAMPLE);
  if (!sample.ok) throw new Error(`${SAMPLE}: ${sample.status}`);
  await classify(engine, await sample.arrayBuffer(), "sample: chelsea the cat");
  const take = async (file) => classify(engine, await file.arrayBuffer(), file.name);
  $("file").addEventListener("change", (e) => e.target.files[0] && take(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) take(e.dataTransfer.files[0]);
  });
  window.thinktwice = engine; // for the browser tests and the curious console user
  document.body.dataset.ready = "true";
}

main().catch((e) => status(`thinktwice could not start: ${e.message ?? e}`, true));

// Page glue: loads the wasm core and the weights, classifies the sample photo and any image given.
// Everything runs here; images are read locally and never uploaded.
import init, { Classifier } from "../pkg/thinktwice.js";

const WEIGHTS = "pkg/efficientnet-lite0.f16.safetensors";
const SAMPLE = "pkg/samples/chelsea.png";
const $ = (id) => document.getElementById(id);

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
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

async function classify(classifier, bytes, label) {
  $("photo").src = URL.createObjectURL(new Blob([bytes]));
  $("caption").textContent = label;
  status(`Classifying on ${classifier.backend}…`);
  const started = performance.now();
  try {
    show(await classifier.classifyImage(bytes, 5));
    status(`Done on ${classifier.backend} in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    $("predictions").replaceChildren();
    status(`Cannot classify ${label}: ${e.message ?? e}`, true);
  }
}

async function main() {
  await init();
  const wantGpu = new URLSearchParams(location.search).get("backend") !== "cpu" && "gpu" in navigator;
  status("Downloading the weights (9 MB)…");
  const classifier = await Classifier.create(await fetchBytes(WEIGHTS), wantGpu);
  await classify(classifier, await fetchBytes(SAMPLE), "sample: chelsea the cat");
  const take = async (file) => classify(classifier, new Uint8Array(await file.arrayBuffer()), file.name);
  $("file").addEventListener("change", (e) => e.target.files[0] && take(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) take(e.dataTransfer.files[0]);
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => status(`thinktwice could not start: ${e.message ?? e}`, true));

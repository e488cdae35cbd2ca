// Page glue: loads the wasm core and the weights, classifies the sample photo and any image given.
// Everything runs here; images are decoded by the browser and never uploaded.
import init, { Engine } from "../pkg/thinktwice.js";

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

// The browser's own decoder (EXIF orientation honoured) → RGBA pixels for the Rust framing code.
async function decode(bytes) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: "from-image" });
  } catch {
    throw new Error("cannot read image: the browser could not decode it");
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
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
  const backend = engine.info.backend;
  status(`Classifying on ${backend}…`);
  const started = performance.now();
  try {
    const pixels = await decode(bytes);
    engine.prepareRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height, "center-crop");
    show((await engine.classify(5)).top);
    status(`Done on ${backend} in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    $("predictions").replaceChildren();
    status(`Cannot classify ${label}: ${e.message ?? e}`, true);
  }
}

async function main() {
  await init();
  const wantGpu = new URLSearchParams(location.search).get("backend") !== "cpu" && "gpu" in navigator;
  status("Downloading the weights (9 MB)…");
  const engine = await Engine.load(await fetchBytes(WEIGHTS), wantGpu ? "auto" : "cpu");
  const reason = engine.info.fallbackReason;
  if (reason) console.info(`thinktwice: using the CPU: ${reason}`);
  await classify(engine, await fetchBytes(SAMPLE), "sample: chelsea the cat");
  const take = async (file) => classify(engine, new Uint8Array(await file.arrayBuffer()), file.name);
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

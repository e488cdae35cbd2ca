// <think-twice>: the explainer as one tag, for course pages and slides.
//
//   <script type="module" src="https://…/www/think-twice.js"></script>
//   <think-twice src="cat.jpg" classes="tabby, tiger cat" autoplay></think-twice>
//
// mode="imagine" shows instead the picture the network grows for the first class (class model
// visualisation, as `thinktwice visualize`): <think-twice mode="imagine" classes="flamingo">.
// Attributes: src (the photo, resolved against the page), classes (names, synonyms or indices,
// comma-separated, or topK; default top1), method (default: the engine's default, look twice then
// closer), autoplay (replay the iterations when done), backend ("cpu" forces the CPU for every
// widget of the page, as does the page address's ?backend=cpu), opacity (0–1; default the engine's). It reflects its progress in `state` (loading, running, done, error) and
// fires `think-twice-done` with {method, classes: [{class, name, probability, box}]}, or
// `think-twice-error` with {code, message} (the message is also shown in the widget).
// The engine, its worker and the weights are the module's own (URLs resolved from this file, which
// may be on another site than the page: it is then fetched with CORS), shared by every widget on
// the page; widgets take turns.
import { Animator } from "./animator.js";
import { EngineClient } from "./client.js";
import { Stage } from "./elements/stage.js";
import "./elements/transport.js";
import { explainInto } from "./explain.js";
import { usePalette } from "./render/heatmap.js";
import { drawPicture } from "./render/overlay.js";

const STAGE_CSS = new URL("elements/stage.css", import.meta.url).href;
const sheet = new CSSStyleSheet();
sheet.replaceSync(`
  :host { display: block; max-width: 40rem; font: 0.9rem/1.4 system-ui, sans-serif; color: #1d2230;
    border: 1px solid #d8dce6; border-radius: 0.75rem; padding: 0.7rem; background: #fff; }
  :host([hidden]) { display: none; }
  .status { margin: 0.4rem 0 0; color: #5a6275; }
  .status.error { color: #b00020; font-weight: 600; }
`);

let engine = null; // one worker and one weight download for the whole page
let turn = Promise.resolve(); // widgets run one after the other (a new explain would cancel the last)
const sharedEngine = (backend) => (engine ??= new EngineClient({ backend: backend === "cpu" ? "cpu" : "auto" }));

export class ThinkTwice extends HTMLElement {
  static observedAttributes = ["src", "classes", "method", "mode"];

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `
      <link rel="stylesheet" href="${STAGE_CSS}">
      <div class="stage-root"></div>
      <tt-transport></tt-transport>
      <p class="status" role="status">Loading…</p>`;
    customElements.upgrade(root); // the transport works before this widget is in the document
    this.$ = (s) => root.querySelector(s);
    this.animator = new Animator((i) => this.stage?.draw(i));
    this.transport = this.$("tt-transport");
    this.transport.attach(this.animator, (i) => {
      const f = this.stage?.frameAt(i);
      return f ? ` · ${(100 * f.probability).toFixed(1)}%` : "";
    });
    this.generation = 0;
  }

  connectedCallback() {
    this.#schedule();
  }

  attributeChangedCallback(_name, old, value) {
    if (this.isConnected && old !== value && this.started) this.#schedule();
  }

  #schedule() {
    this.started = true;
    const generation = ++this.generation;
    this.setAttribute("state", "loading");
    turn = turn.then(() => (generation === this.generation && this.isConnected ? this.#run(generation) : null));
  }

  #status(text, error = false) {
    this.$(".status").textContent = text;
    this.$(".status").classList.toggle("error", error);
  }

  async #run(generation) {
    const spec = this.getAttribute("classes") || "top1";
    try {
      const client = sharedEngine(this.getAttribute("backend") ?? new URLSearchParams(location.search).get("backend"));
      if (this.getAttribute("mode") === "imagine") return await this.#imagine(generation, client, spec);
      this.transport.hidden = false;
      const src = this.getAttribute("src");
      if (!src) throw new Error("no src attribute: which photo?");
      const info = await client.load();
      usePalette(info.constants.palette);
      const method = this.getAttribute("method") || info.constants.defaultMethod;
      const response = await fetch(new URL(src, document.baseURI));
      if (!response.ok) throw new Error(`cannot fetch ${src}: ${response.status} ${response.statusText}`);
      const bytes = await response.arrayBuffer();
      const classified = await client.classify(bytes, 5);
      const stage = (this.stage ??= new Stage(this.$(".stage-root"), info));
      stage.opacity = Number(this.getAttribute("opacity") ?? info.constants.opacity);
      const url = URL.createObjectURL(new Blob([bytes]));
      stage.setPhoto(url, classified.width, classified.height, `${src}, explained by ${method}`);
      this.setAttribute("state", "running");
      this.#status(`Looking twice (${method})…`);
      this.animator.reset();
      this.transport.update(true);
      const results = await explainInto(client, stage, this.animator, { classes: spec, method });
      if (generation !== this.generation) return;
      this.animator.count = stage.count;
      this.animator.finished();
      const text = results.map((r) => `${r.name}: ${r.box ? `box ${Math.round(r.box.x0)},${Math.round(r.box.y0)} – ${Math.round(r.box.x1)},${Math.round(r.box.y1)} px` : "no box"}`).join("; ");
      this.#status(`${method} · ${text}`);
      this.setAttribute("state", "done");
      this.transport.update(false);
      this.dispatchEvent(new CustomEvent("think-twice-done", {
        bubbles: true, composed: true,
        detail: { method, classes: results.map((r) => ({ class: r.class, name: r.name, probability: r.probability, box: r.box })) },
      }));
      if (this.hasAttribute("autoplay")) this.animator.play();
    } catch (e) {
      if (generation !== this.generation) return;
      this.stage?.busy(false);
      this.#status(`thinktwice: ${e.message ?? e}`, true);
      this.setAttribute("state", "error");
      this.dispatchEvent(new CustomEvent("think-twice-error", {
        bubbles: true, composed: true, detail: { code: e.code ?? "failed", message: String(e.message ?? e) },
      }));
    }
  }

  // mode="imagine": the picture the network grows for the class, from grey, step by step.
  async #imagine(generation, client, spec) {
    const { constants } = await client.load();
    this.transport.hidden = true;
    const root = this.$(".stage-root");
    let canvas = root.querySelector("canvas.imagine");
    if (!canvas) {
      root.replaceChildren();
      this.stage = null; // a later explain builds its panel anew
      canvas = Object.assign(document.createElement("canvas"), { width: constants.inputSize, height: constants.inputSize, className: "imagine" });
      canvas.setAttribute("role", "img");
      canvas.style.cssText = "display: block; width: min(100%, 22rem); aspect-ratio: 1; margin: 0 auto; background: #7f7f7f; border-radius: 0.4rem;";
      root.append(canvas);
    }
    const iterations = Math.max(1, Math.min(1000, Number(this.getAttribute("iterations") ?? 150) || 150));
    this.setAttribute("state", "running");
    this.#status("Growing the picture…");
    const grown = await client.visualize({ classes: spec, iterations }, (step) => {
      if (step.picture) drawPicture(canvas, step.picture);
      this.#status(`Step ${step.iteration} of ${iterations}: ${(100 * step.probability).toFixed(1)}%`);
    });
    if (generation !== this.generation) return;
    drawPicture(canvas, grown.picture);
    canvas.setAttribute("aria-label", `The picture the network grows for ${grown.name}`);
    this.#status(`${grown.name}: ${(100 * grown.probability).toFixed(1)}% after ${grown.iterations} steps`);
    this.setAttribute("state", "done");
    this.dispatchEvent(new CustomEvent("think-twice-done", {
      bubbles: true, composed: true, detail: { mode: "imagine", class: grown.class, name: grown.name, probability: grown.probability },
    }));
  }
}

if (!customElements.get("think-twice")) customElements.define("think-twice", ThinkTwice);

// One explanation panel: the photo with the heat map, the boxes and the crop a closer look sees
// over it, the gates closed per layer and the score curve, for one method's run over one or more classes. It keeps the run's frames and
// draws any iteration of it; the page and the <think-twice> widget both use it.
import { drawGateChart, drawCurve } from "../render/charts.js";
import { asShares, drawHeat, robustMax } from "../render/heatmap.js";
import { drawBoxes } from "../render/overlay.js";

const html = (strings, ...values) => String.raw({ raw: strings }, ...values);

export class Stage {
  // root: an element to fill; layers: the 33 gated layers (names for the bars).
  constructor(root, layers) {
    this.root = root;
    this.layers = layers;
    root.classList.add("stage");
    root.innerHTML = html`
      <div class="caption"></div>
      <figure class="photo-box">
        <img class="photo" alt="">
        <canvas class="heat" aria-hidden="true"></canvas>
        <svg class="boxes" aria-hidden="true"></svg>
        <div class="busy" hidden>Looking…</div>
      </figure>
      <div class="charts">
        <figure><figcaption>Gates closed per layer (log scale)</figcaption><svg class="bars" role="img"></svg></figure>
        <figure><figcaption>Probability <span class="swatch prob"></span> and score <span class="swatch score"></span></figcaption>
          <svg class="curve" role="img"></svg></figure>
      </div>`;
    this.$ = (s) => root.querySelector(s);
    this.run = null;
    this.opacity = 0.6;
    this.boxOverride = new Map(); // "class/iteration" → box at a user threshold
  }

  // The photo: an <img>-loadable URL and its size in pixels.
  setPhoto(url, width, height, alt) {
    Object.assign(this.$(".photo"), { src: url, alt });
    this.size = { width, height };
    // The photo's own shape, no taller than most of the window.
    Object.assign(this.$(".photo-box").style, { aspectRatio: `${width} / ${height}`, maxWidth: `calc(70vh * ${width / height})` });
    this.clear();
  }

  clear() {
    this.run = null;
    this.$(".heat").getContext("2d").clearRect(0, 0, this.$(".heat").width, this.$(".heat").height);
    this.$(".heat").hidden = true;
    drawBoxes(this.$(".boxes"), [], this.size?.width ?? 1, this.size?.height ?? 1);
    this.$(".caption").textContent = "";
    this.$(".bars").replaceChildren();
    this.$(".curve").replaceChildren();
  }

  // A new run: method and classes [{index, name, colour}].
  start(method, classes) {
    this.run = { method, classes, frames: new Map(classes.map((c) => [c.index, []])), results: null, focus: classes[0]?.index };
    this.boxOverride.clear();
    this.$(".caption").textContent = method;
    this.busy(true);
  }

  busy(on) {
    this.$(".busy").hidden = !on;
  }

  add(frame) {
    this.run?.frames.get(frame.class)?.push(frame);
  }

  finish(results) {
    this.run.results = results;
    this.busy(false);
  }

  // Frames of the class in focus (or `cls`).
  frames(cls = this.run?.focus) {
    return this.run?.frames.get(cls) ?? [];
  }

  get count() {
    return this.run ? Math.max(0, ...[...this.run.frames.values()].map((f) => f.length)) : 0;
  }

  // Every class's box at `iteration` (at the visitor's threshold when one was set), labelled by `label(class)`.
  boxesAt(iteration, label) {
    return this.run.classes.map((c) => {
      const fs = this.frames(c.index);
      const at = Math.min(iteration, fs.length - 1);
      return { box: this.boxOverride.get(`${c.index}/${at}`) ?? fs[at]?.box, colour: c.colour, label: label(c) };
    });
  }

  // The map shown at `iteration` (the class in focus), as drawn values: own maximum, or shares.
  mapAt(iteration, shared) {
    const frames = this.frames();
    const frame = frames[Math.min(iteration, frames.length - 1)];
    if (!frame?.map) return null;
    return shared ? asShares(frame.map) : frame.map;
  }

  // Draws `iteration`; vmax: the top of the colour scale (shared across panels), else this map's
  // own 99th percentile.
  draw(iteration, { shared = false, vmax } = {}) {
    if (!this.run) return;
    const frames = this.frames();
    const i = Math.min(iteration, frames.length - 1);
    const frame = frames[i];
    const map = this.mapAt(iteration, shared);
    const heat = this.$(".heat");
    heat.hidden = !map;
    heat.style.opacity = this.opacity;
    if (map) drawHeat(heat, map, vmax ?? robustMax(map));
    const several = this.run.classes.length > 1;
    // Where the network is looking in this frame: the crop of a closer look, dashed.
    const looking = frame?.look > 0 && frame.region ? [{ box: frame.region, colour: "#ffffff", label: `look ${frame.look + 1}`, dashed: true }] : [];
    drawBoxes(this.$(".boxes"), [...looking, ...this.boxesAt(iteration, (c) => (several ? c.name : ""))], this.size.width, this.size.height);
    const colour = this.run.classes.find((c) => c.index === this.run.focus)?.colour;
    if (frame) {
      drawGateChart(this.$(".bars"), frame.openFraction, this.layers, colour);
      this.$(".bars").setAttribute("aria-label", `Share of gates closed in each of the ${frame.openFraction.length} layers at iteration ${i}`);
      drawCurve(this.$(".curve"), frames.slice(0, this.run.results ? frames.length : i + 1), i, colour);
      this.$(".curve").setAttribute("aria-label", `Probability ${(100 * frame.probability).toFixed(1)}% at iteration ${i}`);
    }
  }
}

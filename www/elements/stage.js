// One explanation panel: the photo with the heat map, the boxes and the crop a closer look sees
// over it, the gates closed per layer and the score curve, for one method's run over one or more classes. It keeps the run's frames and
// draws any iteration of it; the page and the <think-twice> widget both use it.
import { drawGateChart, drawCurve } from "../render/charts.js";
import { drawHeat, topOf } from "../render/heatmap.js";
import { drawBoxes } from "../render/overlay.js";

const html = (strings, ...values) => String.raw({ raw: strings }, ...values);

export class Stage {
  // root: an element to fill; info: the engine's `ready` (the gated layers for the chart, the
  // class names, the class colours and the default opacity).
  constructor(root, info) {
    this.root = root;
    this.info = info;
    this.layers = info.layers;
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
    this.opacity = info.constants.opacity;
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

  // A new run of `method`; its classes come with its frames, each in the next class colour.
  start(method) {
    this.run = { method, classes: [], frames: new Map(), results: null, focus: undefined };
    this.boxOverride.clear();
    this.$(".caption").textContent = method;
    this.busy(true);
  }

  busy(on) {
    this.$(".busy").hidden = !on;
  }

  // One frame; a class not seen before joins the run: [{index, name, colour}] in order of arrival.
  add(frame) {
    if (!this.run) return;
    if (!this.run.frames.has(frame.class)) {
      const colours = this.info.constants.classColours;
      this.run.classes.push({ index: frame.class, name: this.info.classes[frame.class].split(", ")[0], colour: colours[this.run.classes.length % colours.length] });
      this.run.frames.set(frame.class, []);
      this.run.focus ??= frame.class;
    }
    this.run.frames.get(frame.class).push(frame);
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

  // The frame shown at `iteration` (the class in focus).
  frameAt(iteration) {
    const frames = this.frames();
    return frames[Math.min(iteration, frames.length - 1)];
  }

  // The map at `iteration` and its scale: the result's full-size map at the last iteration.
  mapAt(iteration) {
    const frames = this.frames();
    const result = this.run?.results?.find((r) => r.class === this.run.focus);
    if (result && iteration >= frames.length - 1) return { map: result.map, scale: result.scale };
    const frame = this.frameAt(iteration);
    return frame?.map ? { map: frame.map, scale: frame.scale } : null;
  }

  // Draws `iteration`; relative: the top of a scale shared across panels, in multiples of the
  // average pixel (heatmap.js's relativeTop); without it each map on its own scale.
  draw(iteration, { relative } = {}) {
    if (!this.run) return;
    const frames = this.frames();
    const i = Math.min(iteration, frames.length - 1);
    const frame = frames[i];
    const shown = this.mapAt(iteration);
    const heat = this.$(".heat");
    heat.hidden = !shown;
    heat.style.opacity = this.opacity;
    if (shown) drawHeat(heat, shown.map, relative === undefined ? shown.scale.top : topOf(shown, relative));
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

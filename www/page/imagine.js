// The page's "what does the network think a class looks like?" panel: grows the picture of the
// first chosen class step by step (class model visualisation, `thinktwice visualize`'s code).
import { drawPicture } from "../render/overlay.js";
import { percent, save } from "./downloads.js";

const STEPS = 150;

export class ImaginePanel {
  // section: the panel's element (#imagine); engine: the EngineClient.
  constructor(section, engine) {
    this.section = section;
    this.engine = engine;
    this.$ = (id) => section.querySelector(`#imagine-${id}`);
    this.running = false;
    this.name = "";
    this.$("start").addEventListener("click", () => this.grow());
    this.$("stop").addEventListener("click", () => this.engine.abort());
    this.$("download").addEventListener("click", () => this.$("canvas").toBlob((b) => b && save(b, `${this.name.replace(/\W+/g, "-")}.visualize.png`), "image/png"));
  }

  // The canvas at the network's input size (ready.constants.inputSize).
  setSize(side) {
    this.$("canvas").width = this.$("canvas").height = side;
  }

  // The class it would grow ({index, name} or undefined), and whether the page is busy explaining.
  update(cls, pageBusy) {
    this.cls = cls;
    this.$("class").textContent = cls === undefined ? "a class" : `a ${cls.name}`;
    this.$("start").disabled = cls === undefined || this.running || pageBusy;
    this.$("stop").disabled = !this.running;
  }

  async grow() {
    const cls = this.cls;
    if (cls === undefined) return;
    Object.assign(this, { running: true, name: cls.name });
    this.section.dataset.state = "running";
    this.$("download").disabled = true;
    this.update(cls, false);
    let last = null;
    try {
      const grown = await this.engine.visualize({ classes: String(cls.index), iterations: STEPS }, (step) => {
        last = step;
        if (step.picture) drawPicture(this.$("canvas"), step.picture);
        this.$("text").textContent = `Step ${step.iteration} of ${STEPS}: ${this.name} ${percent(step.probability)}`;
      });
      drawPicture(this.$("canvas"), grown.picture);
      this.$("text").textContent = `${grown.name}: the network gives this picture ${percent(grown.probability)} after ${grown.iterations} steps.`;
      this.section.dataset.state = "done";
      this.section.dataset.probability = String(grown.probability);
      this.$("download").disabled = false;
    } catch (e) {
      const stopped = e.code === this.engine.codes?.cancelled;
      this.section.dataset.state = stopped ? "stopped" : "error";
      this.$("text").textContent = stopped ? `Stopped at step ${last?.iteration ?? 0}.` : `Cannot grow the picture: ${e.message}`;
    } finally {
      this.running = false;
      this.update(this.cls, false);
    }
  }
}

// <tt-transport>: the iteration controls under an explanation (step back, play / pause, step
// forward, a slider and "i of n · p%"), bound to an Animator. The page and the <think-twice>
// widget both use it; its markup and style live here only.
const sheet = new CSSStyleSheet();
sheet.replaceSync(`
  :host { display: flex; align-items: center; gap: 0.4rem; flex-wrap: wrap; margin: 0.3rem 0; }
  :host([hidden]) { display: none; }
  input { flex: 1 1 8rem; }
  button { font: inherit; border: 1px solid var(--line, #d8dce6); background: var(--paper, #fff); color: inherit;
    border-radius: 0.4rem; padding: 0.2rem 0.6rem; cursor: pointer; min-width: 2.2rem; min-height: 2rem; }
  button:disabled { opacity: 0.45; cursor: default; }
  :focus-visible { outline: 3px solid #e69f00; outline-offset: 2px; }
  output { font-variant-numeric: tabular-nums; font-size: 0.9rem; color: var(--muted, #5a6275); min-width: 8rem; }
  .label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
`);

export class Transport extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `
      <button class="back" type="button" aria-label="Step back">◀</button>
      <button class="play" type="button" aria-label="Play">▶</button>
      <button class="forward" type="button" aria-label="Step forward">▶▎</button>
      <label class="label" for="iteration">Iteration</label>
      <input id="iteration" type="range" min="0" max="0" value="0" step="1">
      <output for="iteration">–</output>`;
    this.$ = (s) => root.querySelector(s);
    this.busy = false; // while a run streams in, only the live frame is shown
    this.describe = () => ""; // extra text for iteration i, e.g. " · 93.1%"
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", "Iterations");
  }

  // Drives `animator` from the controls and shows its state; describe(i) adds to "i of n".
  attach(animator, describe = () => "") {
    this.animator = animator;
    this.describe = describe;
    this.$(".play").addEventListener("click", () => animator.toggle());
    this.$(".back").addEventListener("click", () => animator.step(-1));
    this.$(".forward").addEventListener("click", () => animator.step(1));
    this.$("input").addEventListener("input", (e) => animator.seek(Number(e.target.value)));
    animator.addEventListener("change", () => this.update());
    this.update();
  }

  // Shows the animator's count, current iteration and play state; `busy` while a run streams in.
  update(busy = this.busy) {
    this.busy = busy;
    const { count = 0, current = 0, playing = false } = this.animator ?? {};
    const slider = this.$("input");
    slider.max = String(Math.max(0, count - 1));
    slider.value = String(current);
    slider.disabled = count < 2;
    this.$("output").textContent = count ? `${current} of ${count - 1}${this.describe(current)}` : "–";
    const play = this.$(".play");
    play.textContent = playing ? "❚❚" : "▶";
    play.setAttribute("aria-label", playing ? "Pause" : "Play");
    play.disabled = this.$(".back").disabled = this.$(".forward").disabled = count < 2 || busy;
  }
}

if (!customElements.get("tt-transport")) customElements.define("tt-transport", Transport);

// The animation driver, apart from the drawing: which iteration is shown, play / pause / step /
// scrub, and prefers-reduced-motion (then only the last frame is shown unless asked). It calls
// `show(iteration)`; the caller draws.
export class Animator extends EventTarget {
  constructor(show, { fps = 4 } = {}) {
    super();
    this.show = show;
    this.fps = fps;
    this.count = 0; // frames known
    this.current = 0;
    this.live = true; // follow new frames as they arrive
    this.timer = null;
    this.reduced = globalThis.matchMedia?.("(prefers-reduced-motion: reduce)").matches ?? false;
  }

  get playing() {
    return this.timer !== null;
  }

  // A new run: nothing shown yet, follow the frames as they come.
  reset() {
    this.pause();
    this.count = 0;
    this.current = 0;
    this.live = true;
  }

  // A frame arrived; it is shown at once unless the user took over or motion is reduced.
  added(count) {
    this.count = count;
    if (this.live && !this.reduced) this.#go(count - 1);
  }

  // The run ended: show its last frame.
  finished() {
    this.live = false;
    this.#go(this.count - 1);
  }

  seek(i) {
    this.live = false;
    this.pause();
    this.#go(i);
  }

  step(delta) {
    this.seek(Math.max(0, Math.min(this.count - 1, this.current + delta)));
  }

  play() {
    if (this.count < 2 || this.playing) return;
    this.live = false;
    if (this.current >= this.count - 1) this.#go(0);
    this.timer = setInterval(() => {
      if (this.current >= this.count - 1) return this.pause();
      this.#go(this.current + 1);
    }, 1000 / this.fps);
    this.dispatchEvent(new Event("change"));
  }

  pause() {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.dispatchEvent(new Event("change"));
  }

  toggle() {
    this.playing ? this.pause() : this.play();
  }

  #go(i) {
    if (i < 0) return;
    this.current = i;
    this.show(i);
    this.dispatchEvent(new Event("change"));
  }
}

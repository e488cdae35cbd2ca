// embed.html: the <think-twice> widget alone, filling an iframe, set up from the frame's address
// (?src=…&classes=…&method=…&autoplay&backend=cpu&opacity=…). Without src (or after a photo is
// dropped on the frame) the visitor's own photo is shown, as a blob: URL: it never leaves the browser.
import "./think-twice.js";

const params = new URLSearchParams(location.search);
const frame = document.getElementById("frame");
const drop = document.getElementById("drop");
const widget = document.createElement("think-twice");
for (const name of ["classes", "method", "backend", "opacity"]) {
  if (params.has(name)) widget.setAttribute(name, params.get(name));
}
if (params.has("autoplay")) widget.setAttribute("autoplay", "");

let photoUrl = null;
function show(src) {
  drop.hidden = true;
  widget.setAttribute("src", src);
  if (!widget.isConnected) frame.append(widget);
}

function take(file) {
  if (!file) return;
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  show(photoUrl);
}

const src = params.get("src");
if (src) show(new URL(src, location.href).href);
else drop.hidden = false;

document.getElementById("file").addEventListener("change", (e) => take(e.target.files[0]));
document.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
document.addEventListener("dragleave", () => drop.classList.remove("over"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  take([...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/")));
});

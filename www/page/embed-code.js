// The two ways to put what the page shows (photo, classes, method) on another page: the widget's
// tag, with its module from this site, and an iframe of embed.html for pages that allow no scripts.

// site: the page's folder URL; sample: the photo's URL when it is a sample, else null; classes:
// the engine's class names (synonyms per class); chosen: class indices; method: the first panel's.
export function embedCode({ site, sample, classes, chosen, method }) {
  const photo = sample ?? "your-photo.jpg";
  const nameOf = (i) => classes[i].split(", ")[0];
  // A class by its name when that name is unique, else by its index (two classes are called "crane").
  const spec = chosen.map((i) => (classes.filter((c) => c.split(", ")[0] === nameOf(i)).length === 1 ? nameOf(i) : String(i))).join(", ");
  const attr = (s) => s.replaceAll("&", "&amp;").replaceAll('"', "&quot;");
  const tag = `<script type="module" src="${new URL("www/think-twice.js", site).href}"></script>\n` +
    `<think-twice src="${attr(photo)}" classes="${attr(spec)}" method="${attr(method)}" autoplay></think-twice>`;
  const query = new URLSearchParams({ src: photo, classes: spec, method });
  const iframe = `<iframe src="${attr(new URL(`embed.html?${query}&autoplay`, site).href)}" width="640" height="760" ` +
    `style="border: 0; max-width: 100%" title="thinktwice: where does the network look for ${attr(spec)}?"></iframe>`;
  const note = sample ? "" : "Your photo is not on any site: put it next to your page (tag) or on this site (iframe) and write its address for your-photo.jpg, or leave src out of the iframe's address to let visitors drop their own.";
  return { tag, iframe, note };
}

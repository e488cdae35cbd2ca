// The class search box: a combobox over all 1,000 class names (every WordNet synonym), type-ahead,
// arrow keys, Enter or a click to pick, Escape to close (the ARIA combobox pattern).

// synonyms: per class, "tabby, tabby cat"; returns up to `n` [{index, name, match}] best first:
// names starting with the query, then words starting with it, then containing it.
export function searchClasses(synonyms, query, n = 8) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  if (/^\d+$/.test(q) && Number(q) < synonyms.length) {
    const i = Number(q);
    return [{ index: i, name: synonyms[i].split(", ")[0], match: synonyms[i] }];
  }
  const hits = [];
  synonyms.forEach((line, index) => {
    let best = Infinity, match = "";
    for (const s of line.split(", ")) {
      const l = s.toLowerCase();
      const rank = l === q ? 0 : l.startsWith(q) ? 1 : l.split(/[\s-]/).some((w) => w.startsWith(q)) ? 2 : l.includes(q) ? 3 : Infinity;
      if (rank < best) { best = rank; match = s; }
    }
    if (best < Infinity) hits.push({ index, name: line.split(", ")[0], match, rank: best });
  });
  hits.sort((a, b) => a.rank - b.rank || a.match.length - b.match.length || a.index - b.index);
  return hits.slice(0, n);
}

export function classSearch(input, listbox, synonyms, onPick) {
  let options = [];
  let active = -1;
  const close = () => {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (i) => {
    active = i;
    [...listbox.children].forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    if (i >= 0) {
      input.setAttribute("aria-activedescendant", listbox.children[i].id);
      listbox.children[i].scrollIntoView?.({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  const pick = (i) => {
    const hit = options[i];
    if (!hit) return;
    onPick(hit.index);
    input.value = "";
    close();
  };
  const update = () => {
    options = searchClasses(synonyms, input.value);
    listbox.replaceChildren(...options.map((hit, i) => {
      const li = document.createElement("li");
      li.id = `${listbox.id}-${i}`;
      li.setAttribute("role", "option");
      li.dataset.index = hit.index;
      li.textContent = hit.match === hit.name ? hit.name : `${hit.name} (${hit.match})`;
      li.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the input
      li.addEventListener("click", () => pick(i));
      return li;
    }));
    if (!options.length) return close();
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(0);
  };
  input.addEventListener("input", update);
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (listbox.hidden) update();
      if (!options.length) return;
      e.preventDefault();
      const d = e.key === "ArrowDown" ? 1 : -1;
      highlight((active + d + options.length) % options.length);
    } else if (e.key === "Enter") {
      if (!listbox.hidden && active >= 0) {
        e.preventDefault();
        pick(active);
      }
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
}

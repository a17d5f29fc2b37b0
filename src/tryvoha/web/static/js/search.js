// A combobox over region names (Ukrainian or English): type, arrow to a result, Enter.

import { nameOf, t } from "./i18n.js";

let counter = 0;

export function bindSearch(input, list, { regions, onChoose, accept = () => true, describe = null }) {
  let results = [];
  let active = -1;
  const prefix = `opt-${++counter}-`;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const highlight = (index) => {
    active = index;
    for (const [i, li] of [...list.children].entries()) li.setAttribute("aria-selected", String(i === index));
    if (index >= 0) input.setAttribute("aria-activedescendant", `${prefix}${index}`);
    else input.removeAttribute("aria-activedescendant");
  };

  const choose = (index) => {
    const region = results[index];
    if (!region) return;
    close();
    input.value = nameOf(region);
    onChoose(region);
  };

  input.addEventListener("input", () => {
    results = regions.search(input.value, { limit: 8, accept });
    list.replaceChildren(
      ...results.map((region, i) => {
        const li = document.createElement("li");
        li.id = `${prefix}${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        const name = document.createElement("span");
        name.className = "opt-name";
        name.textContent = nameOf(region);
        const where = document.createElement("span");
        where.className = "opt-where";
        const oblast = regions.oblastOf(region.id);
        where.textContent = [t(`level.${region.kind}`), oblast && oblast !== region.id ? nameOf(regions.get(oblast)) : ""]
          .filter(Boolean).join(" · ");
        li.append(name, where);
        if (describe) li.append(describe(region));
        li.addEventListener("pointerdown", (e) => e.preventDefault());
        li.addEventListener("click", () => choose(i));
        return li;
      }),
    );
    if (!results.length && input.value.trim()) {
      const li = document.createElement("li");
      li.className = "opt-none";
      li.textContent = t("search.nothing");
      list.append(li);
    }
    list.hidden = !input.value.trim();
    input.setAttribute("aria-expanded", String(!list.hidden));
    highlight(results.length ? 0 : -1);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && results.length) {
      e.preventDefault();
      highlight((active + 1) % results.length);
    } else if (e.key === "ArrowUp" && results.length) {
      e.preventDefault();
      highlight((active - 1 + results.length) % results.length);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (active >= 0) choose(active);
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

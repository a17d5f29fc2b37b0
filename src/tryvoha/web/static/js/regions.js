// Every region, from /map/regions.json: names, parents, and search by name.

const LEVELS = { c: "country", o: "oblast", r: "raion", h: "hromada" };
const LEVEL_RANK = { country: 0, oblast: 1, raion: 2, hromada: 3 };

// Lower-case, no apostrophes, punctuation or spaces: as tryvoha.domain.regions.normalise_name.
export const normalise = (text) => text.toLocaleLowerCase().replace(/[\s'’ʼ`".,()-]+/g, "");

export class Regions {
  constructor(doc) {
    this.byId = new Map();
    this.children = new Map();
    for (const [id, parent, level, uk, en, shortUk, shortEn] of doc.regions) {
      const region = {
        id, parent: parent || null, level: LEVELS[level], uk, en, short_uk: shortUk, short_en: shortEn,
        keys: [...new Set([uk, en, shortUk, shortEn].map(normalise))],
      };
      this.byId.set(id, region);
      if (parent) {
        if (!this.children.has(parent)) this.children.set(parent, []);
        this.children.get(parent).push(id);
      }
    }
  }

  static async load(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`regions: HTTP ${response.status}`);
    return new Regions(await response.json());
  }

  get(id) { return this.byId.get(id); }

  // Parent first, the country last.
  ancestors(id) {
    const out = [];
    let region = this.byId.get(id);
    while (region && region.parent) {
      out.push(region.parent);
      region = this.byId.get(region.parent);
    }
    return out;
  }

  isWithin(id, scopeId) { return id === scopeId || this.ancestors(id).includes(scopeId); }

  oblastOf(id) {
    for (const candidate of [id, ...this.ancestors(id)]) {
      if (this.byId.get(candidate)?.level === "oblast") return candidate;
    }
    return null;
  }

  atLevel(level) { return [...this.byId.values()].filter((r) => r.level === level); }

  // Names that start with the query first, then names that contain it; higher levels first.
  search(query, { limit = 8, accept = () => true } = {}) {
    const q = normalise(query);
    if (!q) return [];
    const found = [];
    for (const region of this.byId.values()) {
      if (region.level === "country" || !accept(region)) continue;
      let score = Infinity;
      for (const key of region.keys) {
        if (key.startsWith(q)) score = Math.min(score, 0);
        else if (key.includes(q)) score = Math.min(score, 1);
      }
      if (score < Infinity) found.push([score, LEVEL_RANK[region.level], region.uk, region]);
    }
    found.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2].localeCompare(b[2], "uk"));
    return found.slice(0, limit).map((f) => f[3]);
  }
}

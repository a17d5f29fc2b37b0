// Every region, from /map/regions.json (tryvoha.web.names): names in every page language,
// parents, and search by any of those names.

const LEVELS = { c: "country", o: "oblast", r: "raion", h: "hromada" };
const LEVEL_RANK = { country: 0, oblast: 1, raion: 2, hromada: 3 };

// Lower-case, no apostrophes, punctuation or spaces: as tryvoha.domain.regions.normalise_name.
export const normalise = (text) => text.toLocaleLowerCase().replace(/[\s'’ʼ`".,()-]+/g, "");

export class Regions {
  constructor(doc) {
    this.byId = new Map();
    this.children = new Map();
    for (const row of doc.regions) {
      const region = Object.fromEntries(doc.fields.map((field, i) => [field, row[i]]));
      region.parent = region.parent || null;
      region.level = LEVELS[region.level];
      region.keys = [...new Set([region.uk, region.short_uk, region.en, region.short_en, region.fr, region.short_fr, region.alt].map(normalise))];
      this.byId.set(region.id, region);
      if (region.parent) {
        if (!this.children.has(region.parent)) this.children.set(region.parent, []);
        this.children.get(region.parent).push(region.id);
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

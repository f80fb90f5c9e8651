// The benchmark's baseline page: the whole catalog (`/api/models` of the
// models-cache at `?api=`, cross-origin: the catalog is CORS `*`), filtered
// by nothing, sorted by name and cut to the first 50 in the browser, as a
// frontend without server-side queries does. Sets the same `rows-painted`
// mark as the models page (web/models.js), after the frame showing the rows.
"use strict";

(async () => {
  const PAGE_SIZE = 50;
  const api = new URLSearchParams(location.search).get("api") || "";
  const query = { q: "", gateway: [] };
  const summary = document.getElementById("summary");

  function matches(model) {
    if (query.gateway.length && !query.gateway.includes(model.gateway)) return false;
    if (!query.q) return true;
    const text = `${model.id} ${model.name || ""}`.toLowerCase();
    return query.q.toLowerCase().split(/\s+/).every((word) => text.includes(word));
  }

  function perMillion(perToken) {
    const value = Number(perToken) * 1e6;
    return perToken === null || perToken === undefined || !Number.isFinite(value) ? "—" : `$${value.toFixed(2)}`;
  }

  function row(model) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = model.name || model.id;
    const id = document.createElement("code");
    id.textContent = ` ${model.id} `;
    const meta = document.createElement("span");
    const context = model.context_length ? `${model.context_length} tokens` : "context unknown";
    const pricing = model.pricing || {};
    meta.textContent = `${model.gateway} · ${context} · ${perMillion(pricing.prompt)} in · ${perMillion(pricing.completion)} out per 1M tokens`;
    li.append(name, id, meta);
    return li;
  }

  try {
    const response = await fetch(`${api}/api/models`, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { data } = await response.json();
    const collator = new Intl.Collator("en");
    const found = data.filter(matches).sort((a, b) => collator.compare(a.name || a.id, b.name || b.id));
    document.getElementById("models").replaceChildren(...found.slice(0, PAGE_SIZE).map(row));
    summary.textContent = `Showing 1–${Math.min(PAGE_SIZE, found.length)} of ${found.length.toLocaleString("en")} models`;
    requestAnimationFrame(() => setTimeout(() => performance.mark("rows-painted"), 0));
  } catch (error) {
    summary.textContent = `The catalog did not answer: ${error.message}`;
  }
})();

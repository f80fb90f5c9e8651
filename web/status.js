// The status page: one public read (/api/status) every few seconds.
"use strict";

(() => {
  const { el, getJSON, count, duration, dateOf, stateBadge } = mc;
  const REFRESH_MS = 5000;
  const RECENT_CHANGES = 15;
  const $ = (id) => document.getElementById(id);
  let timer = 0;

  async function refresh() {
    clearTimeout(timer);
    try {
      const [status, changes] = await Promise.all([
        getJSON("/api/status"),
        getJSON(`/api/changes?limit=${RECENT_CHANGES}`),
      ]);
      $("error").hidden = true;
      render(status);
      renderChanges(changes.data);
      $("updated").textContent = `Updated ${new Date().toTimeString().slice(0, 8)}; refreshes every ${REFRESH_MS / 1000} s`;
    } catch (error) {
      $("error").hidden = false;
      $("error").textContent = `The service did not answer: ${error.message}. Retrying.`;
    }
    timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 6 : REFRESH_MS);
  }

  function render(status) {
    renderReads(status.reads);
    $("gateway-table").tBodies[0].replaceChildren(...status.gateways.map((g) => gatewayRow(g, status.now)));
    renderWarms(status.warming);
  }

  function renderReads(reads) {
    if (!reads) {
      $("reads").replaceChildren(el("dt", { text: "Reads" }), el("dd", { text: "unknown: the store does not answer" }));
      return;
    }
    const rate = reads.hit_rate === null ? "—" : `${(reads.hit_rate * 100).toFixed(1)} %`;
    const figure = (name, value) => [el("dt", { text: name }), el("dd", { text: value })];
    $("reads").replaceChildren(
      ...figure("Hit rate", rate),
      ...figure("Fresh hits", count(reads.hits)),
      ...figure("Stale hits", count(reads.stale_hits)),
      ...figure("Misses", count(reads.misses)));
  }

  function gatewayRow(g, now) {
    const left = (until) => (until === null ? "—" : until <= now ? "expired" : duration(until - now));
    return el("tr", { class: `state-${g.status}`, "data-gateway": g.id },
      el("th", { scope: "row", text: g.id }),
      el("td", { text: g.kind }),
      el("td", {}, stateBadge(g.status)),
      el("td", { class: "num", text: count(g.count) }),
      el("td", { class: "num age", text: duration(g.age_ms) }),
      el("td", { class: "num", text: left(g.fresh_until) }),
      el("td", { class: "num", text: left(g.stale_until) }),
      el("td", { text: g.backing_off ? "backing off" : "—" }),
      el("td", { class: g.error ? "gateway-error" : "muted", text: g.error || "—" }));
  }

  function renderChanges(changes) {
    if (changes.length === 0) {
      $("changes").replaceChildren(el("li", { class: "muted", text: "No change recorded yet." }));
      return;
    }
    $("changes").replaceChildren(...changes.reverse().map((c) => {
      const what = c.type === "listed" ? `listed ${c.count} models` : `${c.type} ${c.model}`;
      const fields = Object.entries(c.fields || {}).map(([name, v]) =>
        el("li", { text: `${name}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}` }));
      return el("li", { "data-seq": c.seq },
        el("p", {}, el("strong", { text: dateOf(c.at) }), ` · ${c.gateway}: ${what}`),
        fields.length ? el("ul", { class: "outcomes" }, ...fields) : null);
    }));
  }

  function renderWarms(warming) {
    $("warming").textContent = warming.running ? "A warm is running now." : "";
    if (warming.recent.length === 0) {
      $("warms").replaceChildren(el("li", { class: "muted", text: "No warm recorded yet." }));
      return;
    }
    $("warms").replaceChildren(...warming.recent.map(warmItem));
  }

  function warmItem(warm) {
    const outcomes = Object.entries(warm.gateways).map(([id, o]) =>
      el("li", { class: o.ok ? "ok" : "failed" },
        el("strong", { text: id }), " ",
        o.ok ? `${o.count} models in ${o.duration_ms} ms` : `failed after ${o.duration_ms} ms: ${o.error}`));
    const verdict = warm.success ? "all gateways ok" : "some gateways failed";
    return el("li", {},
      el("p", {}, el("strong", { text: dateOf(warm.finished_at) }),
        ` · ${warm.trigger} · ${warm.duration_ms} ms · ${verdict}`),
      el("ul", { class: "outcomes" }, ...outcomes));
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  refresh();
})();

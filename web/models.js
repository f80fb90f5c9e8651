// The models page: every query is answered by the server (/api/catalog), and
// the page's own URL holds the API's query parameters, so a link reproduces
// the view. Searching replaces the history entry; every other change adds one.
"use strict";

(() => {
  const { el, getJSON, money, count, byText, tokens, duration, stateBadge } = mc;

  const PAGE_SIZE = 50;
  const SEARCH_DELAY_MS = 150;
  /** Facets shown before "show all". */
  const SHOWN_VALUES = 8;
  /**
   * Facets whose values are alternatives (`gateway=a,b`: either). Their counts
   * come from the query without their own choice, so choosing one value still
   * shows what choosing another would give.
   */
  const EITHER = ["gateway", "author"];
  /** Plain controls: their name is the API parameter. */
  const CONTROLS = ["sort", "context", "max_price", "free"];

  const $ = (id) => document.getElementById(id);
  const form = $("filters");
  const search = $("q");
  const expanded = new Set();
  let params = fromLocation();
  let inFlight = null;
  let painted = false;
  let shownFacets = {};
  /** Each shown row's model, until its offers table is built. */
  const offersOf = new WeakMap();
  let searchTimer = 0;

  function fromLocation() {
    const given = new URLSearchParams(location.search);
    const kept = new URLSearchParams();
    for (const [key, value] of given) {
      if (value !== "") kept.append(key, value);
    }
    return kept;
  }

  /** The API query for `params`, optionally without one facet's choice. */
  function apiQuery(overrides, omit) {
    const query = new URLSearchParams(params);
    if (omit) query.delete(omit);
    for (const [key, value] of Object.entries(overrides)) query.set(key, value);
    return query.toString();
  }

  function go(change, { push = true } = {}) {
    change(params);
    if (!change.keepsOffset) params.delete("offset");
    const url = params.toString() ? `/?${params}` : "/";
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
    load();
  }

  async function load() {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    document.body.classList.add("loading");
    try {
      const main = getJSON(`/api/catalog?${apiQuery({ limit: PAGE_SIZE, facets: "true" })}`, controller.signal);
      const either = EITHER.filter((f) => params.has(f)).map((facet) =>
        getJSON(`/api/catalog?${apiQuery({ limit: 0, facets: "true" }, facet)}`, controller.signal)
          .then((answer) => [facet, answer.facets[facet]]),
      );
      const answer = await main;
      for (const [facet, counts] of await Promise.all(either)) answer.facets[facet] = counts;
      if (controller.signal.aborted) return;
      render(answer);
    } catch (error) {
      if (controller.signal.aborted) return;
      showError(error.message);
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        document.body.classList.remove("loading");
      }
    }
  }

  function showError(message) {
    $("error").hidden = false;
    $("error").textContent = `The catalog did not answer this query: ${message}`;
    $("summary").textContent = "No models shown.";
    $("models").replaceChildren();
  }

  function render(answer) {
    $("error").hidden = true;
    renderGateways(answer.gateways);
    shownFacets = answer.facets || {};
    renderFacets(shownFacets);
    renderModels(answer.data);
    renderPaging(answer.total, answer.data.length);
    if (!painted) {
      painted = true;
      // After the frame that shows the rows has been painted.
      requestAnimationFrame(() => setTimeout(() => performance.mark("rows-painted"), 0));
    }
  }

  function renderGateways(gateways) {
    const items = Object.entries(gateways).map(([id, g]) => {
      const age = g.age_ms === null ? "" : ` · ${duration(g.age_ms)} old`;
      const item = el("li", { class: `gateway state-${g.status}` },
        el("strong", { text: id }), " ", stateBadge(g.status),
        el("span", { class: "muted", text: ` ${g.count} models${age}` }));
      if (g.error) item.append(el("span", { class: "gateway-error", text: ` — ${g.error}` }));
      return item;
    });
    $("gateways").replaceChildren(el("ul", { class: "chips" }, ...items));
  }

  function renderFacets(facets) {
    for (const fieldset of form.querySelectorAll("fieldset.facet")) {
      const facet = fieldset.dataset.facet;
      const chosen = new Set((params.get(facet) || "").split(",").filter(Boolean));
      const counts = Object.entries(facets[facet] || {}).sort((a, b) => b[1] - a[1] || byText(a[0], b[0]));
      for (const value of chosen) {
        if (!counts.some(([v]) => v === value)) counts.push([value, 0]);
      }
      const all = expanded.has(facet) || counts.length <= SHOWN_VALUES + 2;
      const shown = all ? counts : counts.filter(([v], i) => i < SHOWN_VALUES || chosen.has(v));
      const options = shown.map(([value, count]) => facetOption(facet, value, count, chosen.has(value)));
      if (!all) {
        options.push(el("button", { type: "button", class: "link more", "data-more": facet,
          text: `Show all ${counts.length}` }));
      }
      if (counts.length === 0) options.push(el("p", { class: "muted", text: "None here" }));
      fieldset.querySelector(".options").replaceChildren(...options);
    }
  }

  function facetOption(facet, value, matches, checked) {
    const id = `f-${facet}-${value}`.replace(/[^A-Za-z0-9_-]/g, "_");
    return el("div", { class: "check" },
      el("input", { type: "checkbox", id, "data-facet": facet, value, checked }),
      el("label", { for: id }, value, " ", el("span", { class: "count", text: count(matches) })));
  }

  function renderModels(models) {
    const template = $("model-row").content;
    const rows = models.map((model) => {
      const row = template.cloneNode(true);
      const q = (s) => row.querySelector(s);
      q(".name").textContent = model.name || model.id;
      q(".id").textContent = model.id;
      const offers = model.offers.length;
      q(".meta").textContent = [model.author, `${tokens(model.context_length)} context`,
        `${offers} ${offers === 1 ? "offer" : "offers"}`].filter(Boolean).join(" · ");
      q(".price").textContent = cheapestText(model.cheapest);
      // The description and offers are built when the row is first opened:
      // the first rows paint sooner.
      offersOf.set(q("details"), model);
      return row;
    });
    $("models").replaceChildren(...rows);
  }

  function cheapestText(cheapest) {
    if (!cheapest) return "price unknown";
    const [input, output] = [money(cheapest.prompt), money(cheapest.completion)];
    if (input === "free" && output === "free") return "free";
    return `from ${input} in · ${output} out per 1M tokens`;
  }

  function offerRow(offer, cheapest) {
    const best = cheapest && cheapest.gateway === offer.gateway && cheapest.id === offer.id;
    const pricing = offer.pricing || {};
    return el("tr", { class: best ? "cheapest" : null },
      el("td", {}, offer.gateway, best ? el("span", { class: "badge best", text: "cheapest" }) : null),
      el("td", {}, el("code", { text: offer.id }), offer.variant ? el("span", { class: "muted", text: ` (${offer.variant})` }) : null),
      el("td", { class: "num", text: money(pricing.prompt) }),
      el("td", { class: "num", text: money(pricing.completion) }),
      el("td", { class: "num", text: tokens(offer.context_length) }),
      el("td", {}, stateBadge(offer.status)));
  }

  function renderPaging(total, shown) {
    const offset = Number(params.get("offset") || 0);
    const first = total === 0 ? 0 : Math.min(offset + 1, total);
    const last = offset + shown;
    const noun = total === 1 ? "model" : "models";
    $("summary").textContent = total === 0
      ? "No model matches these filters."
      : `Showing ${count(first)}–${count(last)} of ${count(total)} ${noun}`;
    $("page").textContent = total > PAGE_SIZE
      ? `Page ${Math.floor(offset / PAGE_SIZE) + 1} of ${Math.ceil(total / PAGE_SIZE)}` : "";
    $("prev").disabled = offset <= 0;
    $("next").disabled = last >= total;
  }

  /** Puts the URL's values in the controls (at start and on back/forward). */
  function syncControls() {
    search.value = params.get("q") || "";
    for (const name of CONTROLS) {
      const control = form.elements[name];
      if (control.type === "checkbox") control.checked = params.get(name) === control.value;
      else control.value = params.get(name) || "";
    }
  }

  function setOrDelete(p, name, value) {
    if (value === "" || value === null) p.delete(name);
    else p.set(name, value);
  }

  function onFacetChange(input) {
    const facet = input.dataset.facet;
    go((p) => {
      const chosen = new Set((p.get(facet) || "").split(",").filter(Boolean));
      if (input.checked) chosen.add(input.value);
      else chosen.delete(input.value);
      setOrDelete(p, facet, [...chosen].join(","));
    });
  }

  function onControlChange(control) {
    if (control.id === "max_price" && !control.checkValidity()) return;
    const value = control.type === "checkbox" ? (control.checked ? control.value : "") : control.value.trim();
    go((p) => setOrDelete(p, control.name, value));
  }

  function page(step) {
    const change = (p) => {
      const offset = Math.max(0, Number(p.get("offset") || 0) + step * PAGE_SIZE);
      setOrDelete(p, "offset", offset ? String(offset) : "");
    };
    change.keepsOffset = true;
    go(change);
    $("results").focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => go((p) => setOrDelete(p, "q", search.value.trim()), { push: false }), SEARCH_DELAY_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && search.value) {
      search.value = "";
      search.dispatchEvent(new Event("input"));
    }
  });
  $("search").addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.dataset.facet) onFacetChange(target);
    else if (CONTROLS.includes(target.name)) onControlChange(target);
  });
  form.addEventListener("click", (event) => {
    const facet = event.target.dataset && event.target.dataset.more;
    if (!facet) return;
    expanded.add(facet);
    renderFacets(shownFacets);
  });
  $("clear").addEventListener("click", () => {
    go((p) => {
      for (const key of [...p.keys()]) if (key !== "q") p.delete(key);
    });
    syncControls();
  });
  // Before the row opens (a click on its summary, or Enter or Space on it).
  $("models").addEventListener("click", (event) => {
    const details = event.target.closest("summary")?.parentElement;
    const model = details && offersOf.get(details);
    if (!model) return;
    offersOf.delete(details);
    const more = $("model-offers").content.cloneNode(true);
    more.querySelector(".description").textContent = model.description || "";
    more.querySelector("tbody").append(...model.offers.map((offer) => offerRow(offer, model.cheapest)));
    details.append(more);
  });
  $("prev").addEventListener("click", () => page(-1));
  $("next").addEventListener("click", () => page(1));
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      search.focus();
    }
  });
  window.addEventListener("popstate", () => {
    params = fromLocation();
    syncControls();
    load();
  });

  // Parameters the page has no control for are passed to the API as they
  // are: a misspelt link gets the API's 400 naming it, never everything.
  syncControls();
  load();
})();

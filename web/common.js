// Helpers shared by the models page and the status page.
// Everything upstream sends (names, ids, descriptions, errors) is untrusted:
// it only ever reaches the page as text (textContent), never as HTML.
"use strict";

const mc = (() => {
  /** An element with attributes and children (strings become text). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** The JSON of `url`, or an Error whose message is the API's own. */
  async function getJSON(url, signal) {
    const response = await fetch(url, { signal, headers: { accept: "application/json" } });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const why = body && body.error ? body.error : `HTTP ${response.status}`;
      throw new Error(why);
    }
    return body;
  }

  /** USD per 1M tokens from a per-token decimal string; null when unknown. */
  function perMillion(perToken) {
    if (perToken === null || perToken === undefined || perToken === "") return null;
    const value = Number(perToken) * 1e6;
    return Number.isFinite(value) && value >= 0 ? value : null;
  }

  function money(perToken) {
    const value = perMillion(perToken);
    if (value === null) return "—";
    if (value === 0) return "free";
    const digits = value >= 100 ? 0 : value >= 1 ? 2 : value >= 0.01 ? 3 : 4;
    return "$" + value.toFixed(digits).replace(/(\.\d*?[1-9])0+$|\.0+$/, "$1");
  }

  /** 12345 → "12,345", without the locale library (its first use costs a
      cold page tens of milliseconds). */
  function count(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  /** Plain code-point order, for the same reason. */
  function byText(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function tokens(n) {
    if (!n) return "—";
    if (n >= 1e6) return trim(n / 1e6) + "M";
    if (n >= 1e3) return trim(n / 1e3) + "K";
    return String(n);
  }

  function trim(x) {
    return x.toFixed(x >= 100 ? 0 : 1).replace(/\.0$/, "");
  }

  /** A duration in ms, as a person says it: "40 s", "5 min", "3 h", "2 d". */
  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return `${s} s`;
    const min = Math.round(s / 60);
    if (min < 90) return `${min} min`;
    const h = Math.round(min / 60);
    if (h < 36) return `${h} h`;
    return `${Math.round(h / 24)} d`;
  }

  function dateOf(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  /** A badge for a cache state: fresh, stale, missing. */
  function stateBadge(status) {
    return el("span", { class: `badge state-${status}`, text: status });
  }

  return { el, getJSON, perMillion, money, count, byText, tokens, duration, dateOf, stateBadge };
})();

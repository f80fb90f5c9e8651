"""Drives the service's pages in a real headless Chromium (Debian's
/usr/bin/chromium, through Playwright from PyPI) and prints what a person
would have seen as one JSON object. The Rust tests (tests/api/pages.rs) run
it and check the observations against the API's own answers.

    python3 drive.py models <base url>
    python3 drive.py status <base url>
    python3 drive.py screenshots <base url> <directory>
    python3 drive.py load <url> <runs> [<url>…]   (the benchmark's page load)
"""

import json
import os
import sys
import time

from playwright.sync_api import Error as PlaywrightError, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this machine's closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
TIMEOUT_MS = 15000
# The view whose first model's offers the models scenario reads.
OFFERS_QUERY = "q=llama&sort=offers"


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


class Watched:
    """A page whose console errors, page errors, CSP violations and failed
    requests are all recorded."""

    def __init__(self, context):
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems = []
        self.page.on(
            "console",
            lambda m: m.type in ("error", "warning")
            and self.problems.append(f"console {m.type}: {m.text}"),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"),
        )
        # A CSP violation is also an event in the page: counted there.
        self.page.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

    def csp_violations(self):
        return self.page.evaluate("window.__csp")

    def settled(self, url_part=None):
        """Waits for the page's query to be answered and shown."""
        self.page.wait_for_function(
            "part => (!part || location.search.includes(part))"
            " && !document.body.classList.contains('loading')"
            " && document.getElementById('summary').textContent !== 'Loading models…'",
            arg=url_part,
        )

    def rows(self):
        return self.page.eval_on_selector_all(
            "#models > li",
            "items => items.map(li => ({"
            " id: li.querySelector('.id').textContent,"
            " name: li.querySelector('.name').textContent,"
            " price: li.querySelector('.price').textContent}))",
        )

    def view(self):
        page = self.page
        return {
            "url": page.url,
            "rows": self.rows(),
            "summary": page.text_content("#summary"),
            "search": page.input_value("#q"),
            "sort": page.input_value("#sort"),
            "error": None if page.is_hidden("#error") else page.text_content("#error"),
        }


def models(base):
    with sync_playwright() as p:
        browser = launch(p)
        watched = Watched(browser.new_context())
        page = watched.page
        seen = {}
        page.goto(base + "/")
        watched.settled()
        seen["initial"] = watched.view()
        seen["gateway_chips"] = page.eval_on_selector_all(
            "#gateways li", "items => items.map(li => li.textContent)"
        )
        # "/" focuses the search box; typing narrows the list.
        page.keyboard.press("/")
        seen["search_focused"] = page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("llama", delay=40)
        watched.settled("q=llama")
        seen["searched"] = watched.view()
        page.check("#f-gateway-together")
        watched.settled("gateway=together")
        seen["filtered"] = watched.view()
        seen["gateway_facet_checked"] = page.is_checked("#f-gateway-together")
        page.select_option("#sort", "pricing-high-to-low")
        watched.settled("sort=pricing-high-to-low")
        seen["sorted"] = watched.view()
        # Back goes to the previous view; a link reproduces a view.
        page.go_back()
        watched.settled()
        seen["back"] = watched.view()
        link = seen["sorted"]["url"]
        fresh = Watched(browser.new_context())
        fresh.page.goto(link)
        fresh.settled()
        seen["linked"] = fresh.view()
        seen["linked_facet_checked"] = fresh.page.is_checked("#f-gateway-together")
        # The model offered by most gateways, its offers as the table shows them.
        fresh.page.goto(base + "/?" + OFFERS_QUERY)
        fresh.settled()
        fresh.page.click("#models > li:first-child summary")
        seen["offers_of"] = fresh.rows()[0]["id"]
        seen["offers"] = fresh.page.eval_on_selector_all(
            "#models > li:first-child tbody tr",
            "rows => rows.map(tr => ({"
            " cells: [...tr.cells].map(td => td.textContent),"
            " cheapest: tr.classList.contains('cheapest')}))",
        )
        # A link with a misspelt parameter shows the API's error, not everything.
        fresh.page.goto(base + "/?sortt=newest")
        fresh.page.wait_for_selector("#error", state="visible")
        seen["misspelt"] = fresh.view()
        fresh.problems = [p for p in fresh.problems if "400" not in p]
        seen["problems"] = watched.problems + fresh.problems
        seen["csp_violations"] = watched.csp_violations() + fresh.csp_violations()
        browser.close()
    return seen


def status(base):
    with sync_playwright() as p:
        browser = launch(p)
        watched = Watched(browser.new_context())
        page = watched.page
        page.goto(base + "/status")
        page.wait_for_selector("#gateway-table tbody tr")
        rows = page.eval_on_selector_all(
            "#gateway-table tbody tr",
            "rows => rows.map(tr => [tr.dataset.gateway, [...tr.cells].map(c => c.textContent)])",
        )
        seen = {
            "headers": page.eval_on_selector_all(
                "#gateway-table thead th", "ths => ths.map(th => th.textContent)"
            ),
            "gateways": dict(rows),
            "reads": page.text_content("#reads"),
            "warms": page.eval_on_selector_all("#warms > li", "lis => lis.map(li => li.textContent)"),
            "changes": page.eval_on_selector_all("#changes > li", "lis => lis.map(li => li.textContent)"),
            "updated": page.text_content("#updated"),
            "page_text": page.text_content("body"),
        }
        # It refreshes itself: the "updated" line changes within a refresh.
        first = seen["updated"]
        page.wait_for_function(
            "first => document.getElementById('updated').textContent !== first",
            arg=first,
            timeout=12000,
        )
        seen["refreshed"] = True
        seen["problems"] = watched.problems
        seen["csp_violations"] = watched.csp_violations()
        browser.close()
    return seen


def screenshots(base, directory):
    os.makedirs(directory, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        for scheme in ("light", "dark"):
            context = browser.new_context(
                color_scheme=scheme, viewport={"width": 1280, "height": 860}
            )
            watched = Watched(context)
            page = watched.page
            page.goto(base + "/?q=llama%203.3&sort=offers")
            watched.settled()
            page.click("#models > li:first-child summary")
            page.screenshot(path=f"{directory}/models-{scheme}.png")
            page.goto(base + "/status")
            page.wait_for_selector("#gateway-table tbody tr")
            page.screenshot(path=f"{directory}/status-{scheme}.png", full_page=True)
            context.close()
        browser.close()
    return {"written": sorted(os.listdir(directory))}


# What the `load` scenario reads in the page once its rows are painted:
# the mark, and where the time before it went (Navigation, Resource and Paint
# Timing, ms from navigation start; a cross-origin resource without
# Timing-Allow-Origin still has its start and responseEnd).
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    painted: performance.getEntriesByName("rows-painted")[0].startTime,
    html: nav.responseEnd,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    paint: Object.fromEntries(performance.getEntriesByType("paint").map(p => [p.name, p.startTime])),
    resources: performance.getEntriesByType("resource").map(r => ({
      name: r.name, type: r.initiatorType, start: r.startTime, end: r.responseEnd,
      encoded: r.encodedBodySize, decoded: r.decodedBodySize })),
    rows: document.querySelectorAll("#models > li").length,
  };
}"""


# Injected before the page's own scripts (an init script is not subject to
# its CSP): says on the console when the mark is set, so that nothing polls
# or runs inside the page while it loads (wait_for_function would inject
# Playwright's script and poll on every frame: work on the measured thread).
MARK_WATCH = """new PerformanceObserver((list) => {
  if (list.getEntriesByName("rows-painted").length) console.debug("rows-painted");
}).observe({ type: "mark" });"""


def load(urls, runs):
    """`runs` cold loads of each of `urls` (a new browser context each, so no
    cache), interleaved (round r starts with page r, so drifting noise hits
    every page alike): ms from navigation start to the page's `rows-painted`
    mark (`ms`), each load's timings (`runs`), the loads that painted
    nothing (`errors`); per page in `pages`, the first page's also at the top."""
    pages = [{"url": url, "ms": [], "runs": [], "errors": []} for url in urls]
    with sync_playwright() as p:
        browser = launch(p)
        for r in range(runs):
            for i in range(len(pages)):
                seen = pages[(r + i) % len(pages)]
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.add_init_script(MARK_WATCH)
                try:
                    with page.expect_console_message(lambda m: m.text == "rows-painted"):
                        page.goto(seen["url"])
                    timings = page.evaluate(TIMINGS)
                    seen["ms"].append(timings["painted"])
                    seen["runs"].append(timings)
                except PlaywrightError as e:
                    seen["errors"].append(str(e).splitlines()[0])
                context.close()
        browser.close()
    return {"ms": pages[0]["ms"], "pages": pages}


def main():
    what, base = sys.argv[1], sys.argv[2].rstrip("/")
    started = time.monotonic()
    if what == "models":
        seen = models(base)
    elif what == "status":
        seen = status(base)
    elif what == "screenshots":
        seen = screenshots(base, sys.argv[3])
    elif what == "load":
        seen = load([base] + sys.argv[4:], int(sys.argv[3]))
    else:
        sys.exit(f"unknown scenario {what!r}")
    seen["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

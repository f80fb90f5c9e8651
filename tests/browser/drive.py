"""Drives the service's pages in a real headless Chromium (Debian's
/usr/bin/chromium, through Playwright from PyPI) and prints what a person
would have seen as one JSON object. The Rust tests (tests/api/pages.rs) run
it and check the observations against the API's own answers.

    python3 drive.py models <base url>
    python3 drive.py status <base url>
    python3 drive.py screenshots <base url> <directory>
    python3 drive.py load <url> <runs>       (the benchmark's page load)
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

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


def load(url, runs):
    """Cold loads of `url` (a new browser context each, so no cache): ms from
    navigation start to the page's `rows-painted` mark."""
    times = []
    with sync_playwright() as p:
        browser = launch(p)
        for _ in range(runs):
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.wait_for_function("performance.getEntriesByName('rows-painted').length > 0")
            times.append(page.evaluate("performance.getEntriesByName('rows-painted')[0].startTime"))
            context.close()
        browser.close()
    return {"ms": times}


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
        seen = load(base, int(sys.argv[3]))
    else:
        sys.exit(f"unknown scenario {what!r}")
    seen["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

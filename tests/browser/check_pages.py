#!/usr/bin/env python3
"""Real-browser page checker for Sightline's dashboard.

Drives a headless Chromium (Debian's /usr/bin/chromium, or $SIGHTLINE_CHROMIUM)
through Playwright against a running server and checks what a person would see.

    python3 tests/browser/check_pages.py --base http://127.0.0.1:PORT \
        --token TOKEN --plan plan.json --out DIR

plan.json:

    {"pages": [{
        "name": "overview",
        "path": "/dashboard?from=2026-11-01&to=2026-11-30",
        "metrics": {"interactions": "1,234"},      # [data-metric=NAME] innerText, exact
        "texts": ["must appear in the page text"],
        "absent": ["must appear neither in the text nor in the HTML"],
        "follow": [{
            "selector": "a[data-link=conversation]", # first match is clicked
            "path_prefix": "/dashboard/conversations/",
            "metrics": {},                           # optional, on the target page
            "texts": [], "absent": []                # optional, on the target page
        }]
    }]}

Every problem is collected (the run never stops at the first); the last line on
stdout is a JSON summary {"pages": N, "screenshots": [...], "problems": [...]}.
Exit status: 0 when there is no problem, 1 otherwise.

Also counted as problems: JavaScript console errors and uncaught page errors,
and any request to a host other than the base URL's host (such requests are
blocked: the pages must work with no network beyond the server).

The bearer token is sent on every request the browser makes to the server and is
never printed: any occurrence of it in a message is masked as *** (tokens of
fewer than 6 characters are not masked).
"""

import argparse
import json
import os
import sys
from urllib.parse import urljoin, urlsplit

DEFAULT_CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 900}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--token", required=True, help="bearer token sent as the Authorization header")
    p.add_argument("--plan", required=True, help="plan JSON file")
    p.add_argument("--out", required=True, help="directory for the screenshots")
    p.add_argument(
        "--timeout-ms",
        type=int,
        default=30_000,
        help="timeout for each navigation, click and lookup (default 30000)",
    )
    return p.parse_args(argv)


def origin_key(url):
    """(scheme-normalised host, port) of an http(s) URL, or None for other schemes."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    return ((parts.hostname or "").lower(), port)


class Checker:
    def __init__(self, base, token, out_dir, timeout_ms):
        self.base = base.rstrip("/")
        self.base_host = origin_key(self.base)
        self.token = token
        self.out_dir = out_dir
        self.timeout_ms = timeout_ms
        self.problems = []
        self.screenshots = []
        # Label of what is being checked now, so that asynchronous events (console
        # messages, blocked requests) are attributed to the right page.
        self.current = "(startup)"
        self.page = None

    # -- reporting ---------------------------------------------------------------

    def mask(self, text):
        text = str(text)
        # A token too short to be a real secret would mangle every message it masks.
        if len(self.token) >= 6:
            text = text.replace(self.token, "***")
        return text

    def problem(self, where, message):
        self.problems.append(self.mask(f"{where}: {message}"))

    # -- browser event handlers --------------------------------------------------

    def on_route(self, route):
        url = route.request.url
        key = origin_key(url)
        if key is None or key == self.base_host:
            # Same server, or a non-network scheme (data:, blob:, ...).
            route.continue_()
            return
        self.problem(self.current, f"blocked request to another host: {url}")
        route.abort("blockedbyclient")

    def on_console(self, msg):
        if msg.type != "error":
            return
        text = msg.text
        # A request we blocked shows up again as a console error; it is already counted.
        if "ERR_BLOCKED_BY_CLIENT" in text:
            return
        loc = msg.location or {}
        # A non-200 status of the document itself is reported by the status check.
        if (
            text.startswith("Failed to load resource: the server responded with a status of")
            and self.page is not None
            and loc.get("url") == self.page.url
        ):
            return
        where = ""
        if loc.get("url"):
            where = f" (at {loc.get('url')}:{loc.get('lineNumber', 0)})"
        self.problem(self.current, f"console error: {text}{where}")

    def on_pageerror(self, err):
        self.problem(self.current, f"uncaught JavaScript error: {err}")

    # -- checks ----------------------------------------------------------------

    def url(self, path):
        return urljoin(self.base + "/", path)

    def check_status(self, where, response, what):
        if response is None:
            self.problem(where, f"{what}: no HTTP response (expected status 200)")
            return False
        if response.status != 200:
            self.problem(where, f"{what}: expected status 200, found {response.status} for {response.url}")
            return False
        return True

    def check_metrics(self, page, where, metrics):
        for name, expected in (metrics or {}).items():
            selector = f"[data-metric={json.dumps(name)}]"
            try:
                found = [t.strip() for t in page.locator(selector).all_inner_texts()]
            except Exception as e:  # noqa: BLE001 - every failure is a reported problem
                self.problem(where, f"metric {name!r} ({selector}): lookup failed: {e}")
                continue
            if not found:
                self.problem(where, f"metric {name!r}: expected {expected!r}, found no element {selector}")
                continue
            for i, text in enumerate(found):
                if text != str(expected):
                    which = "" if len(found) == 1 else f" (element {i + 1} of {len(found)})"
                    self.problem(where, f"metric {name!r}{which}: expected {expected!r}, found {text!r}")

    def check_texts(self, page, where, texts, absent):
        if not texts and not absent:
            return
        body_text = page.inner_text("body")
        for text in texts or []:
            if text not in body_text:
                self.problem(where, f"text {text!r}: expected in the page text, not found")
        if absent:
            html = page.content()
            for text in absent:
                places = [n for n, hay in (("page text", body_text), ("HTML", html)) if text in hay]
                if places:
                    self.problem(
                        where,
                        f"absent string {text!r}: expected nowhere, found in the {' and the '.join(places)}",
                    )

    def screenshot(self, page, where, file_name):
        path = os.path.join(self.out_dir, file_name)
        try:
            page.screenshot(path=path, full_page=True)
            self.screenshots.append(path)
        except Exception as e:  # noqa: BLE001
            self.problem(where, f"screenshot {path} failed: {e}")

    def check_page(self, page, spec, index):
        name = spec.get("name") or f"page{index + 1}"
        path = spec.get("path")
        self.current = name
        if not isinstance(path, str) or not path:
            self.problem(name, "plan entry has no \"path\"")
            return
        safe = name.replace(os.sep, "_")

        try:
            response = page.goto(self.url(path), wait_until="load")
        except Exception as e:  # noqa: BLE001
            self.problem(name, f"navigation to {path} failed: {e}")
            return
        self.check_status(name, response, f"GET {path}")
        try:
            self.check_metrics(page, name, spec.get("metrics"))
            self.check_texts(page, name, spec.get("texts"), spec.get("absent"))
        except Exception as e:  # noqa: BLE001
            self.problem(name, f"checking {path} failed: {e}")
        self.screenshot(page, name, f"{safe}.png")

        for k, follow in enumerate(spec.get("follow") or [], start=1):
            where = f"{name} follow {k}"
            self.current = where
            if k > 1:
                try:
                    page.goto(self.url(path), wait_until="load")
                except Exception as e:  # noqa: BLE001
                    self.problem(where, f"returning to {path} failed: {e}")
                    continue
            self.check_follow(page, where, follow, f"{safe}-follow-{k}.png")

    def check_follow(self, page, where, follow, shot_name):
        selector = follow.get("selector")
        prefix = follow.get("path_prefix", "")
        if not selector:
            self.problem(where, "plan entry has no \"selector\"")
            return
        link = page.locator(selector).first
        try:
            if link.count() == 0:
                self.problem(where, f"selector {selector!r}: expected a matching element, found none")
                return
        except Exception as e:  # noqa: BLE001
            self.problem(where, f"selector {selector!r}: lookup failed: {e}")
            return
        try:
            with page.expect_navigation(wait_until="load") as nav:
                link.click()
            response = nav.value
        except Exception as e:  # noqa: BLE001
            self.problem(where, f"selector {selector!r}: click did not navigate: {e}")
            return
        self.check_status(where, response, f"following {selector!r}")
        found_path = urlsplit(page.url).path
        if origin_key(page.url) != self.base_host:
            self.problem(where, f"selector {selector!r}: expected to stay on {self.base}, found {page.url}")
        if not found_path.startswith(prefix):
            self.problem(
                where,
                f"selector {selector!r}: expected a path starting with {prefix!r}, found {found_path!r}",
            )
        try:
            self.check_metrics(page, where, follow.get("metrics"))
            self.check_texts(page, where, follow.get("texts"), follow.get("absent"))
        except Exception as e:  # noqa: BLE001
            self.problem(where, f"checking {page.url} failed: {e}")
        self.screenshot(page, where, shot_name)

    # -- driver ------------------------------------------------------------------

    def run(self, pages):
        from playwright.sync_api import sync_playwright

        executable = os.environ.get("SIGHTLINE_CHROMIUM") or DEFAULT_CHROMIUM
        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(
                    executable_path=executable, headless=True, args=LAUNCH_ARGS
                )
            except Exception as e:  # noqa: BLE001
                self.problem("(startup)", f"cannot launch Chromium {executable}: {e}")
                return
            try:
                context = browser.new_context(
                    viewport=VIEWPORT,
                    extra_http_headers={"Authorization": "Bearer " + self.token},
                )
                context.set_default_timeout(self.timeout_ms)
                context.set_default_navigation_timeout(self.timeout_ms)
                context.route("**/*", self.on_route)
                page = context.new_page()
                self.page = page
                page.on("console", self.on_console)
                page.on("pageerror", self.on_pageerror)
                for i, spec in enumerate(pages):
                    self.check_page(page, spec, i)
                self.current = "(shutdown)"
                context.close()
            finally:
                browser.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    checker = Checker(args.base, args.token, args.out, args.timeout_ms)

    pages = []
    try:
        with open(args.plan, encoding="utf-8") as f:
            plan = json.load(f)
        pages = plan.get("pages")
        if not isinstance(pages, list) or not pages:
            checker.problem("(plan)", f"{args.plan}: expected a non-empty \"pages\" list")
            pages = []
    except (OSError, ValueError, AttributeError) as e:
        checker.problem("(plan)", f"cannot read {args.plan}: {e}")

    if origin_key(args.base) is None:
        checker.problem("(plan)", f"--base {args.base!r} is not an http(s) URL")
        pages = []

    if pages:
        os.makedirs(args.out, exist_ok=True)
        try:
            checker.run(pages)
        except Exception as e:  # noqa: BLE001 - report, never a traceback with the token
            checker.problem(checker.current, f"browser run failed: {e}")

    for p in checker.problems:
        print(f"problem: {p}", file=sys.stderr)
    summary = {
        "pages": len(pages),
        "screenshots": checker.screenshots,
        "problems": checker.problems,
    }
    print(json.dumps(summary), flush=True)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())

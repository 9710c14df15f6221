"""The built site as a reader's browser sees it: headless Debian Chromium driven by Playwright.

Needs ``_build/html`` (``jupyter-book build .``) and ``/usr/bin/chromium`` (``apt-get install
chromium``); Playwright never downloads a browser here. The site is served on 127.0.0.1 and every
request to another host is blocked, so the pages must work offline.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
# Debian's Chromium; a machine without it may name another Chromium-based browser in $CHROMIUM.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _pages_in_toc() -> list[str]:
    """Every page of ``_toc.yml`` as its HTML path below the site, e.g. ``book/preface.html``."""
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"^\s*(?:root|- file):\s*(\S+)\s*$", toc, flags=re.MULTILINE)
    return [f"{name}.html" for name in files]


PAGES = _pages_in_toc()
NOTEBOOK_CHAPTERS = [
    page
    for page in PAGES
    if (ROOT / page.replace(".html", ".md")).read_text().startswith("---\njupytext:")
]


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        pytest.fail("no built site in _build/html: run `jupyter-book build .` first")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"no browser at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # a phone held upright (iPhone 12 to 15)
# Code and printed output wider than their box, hidden cells opened first: a reader would have to
# scroll sideways to read them. Each entry: the box's width, the text's width, the longest line.
WIDE_BLOCKS = """() => {
  document.querySelectorAll('article details').forEach(d => { d.open = true; });
  document.querySelectorAll('article .toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  return Array.from(document.querySelectorAll('article pre'))
    .filter(pre => pre.clientWidth > 0 && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => [pre.clientWidth, pre.scrollWidth,
                 pre.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '')]);
}"""
# At phone width: how wide the page is, and each numbered display equation's share of its box.
PHONE_FACTS = """() => ({
  page: document.documentElement.scrollWidth,
  screen: window.innerWidth,
  overflowing: Array.from(document.querySelectorAll('article *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => !e.closest('pre, .math, mjx-container, table, .highlight, .cell_output'))
    .slice(0, 3).map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 60)),
  equations: Array.from(document.querySelectorAll('div.math'))
    .filter(d => d.querySelector('.eqno') && d.querySelector('mjx-container'))
    .map(d => [d.id, d.clientWidth, d.querySelector('mjx-container').getBoundingClientRect().width]),
})"""


def _load(browser, site_url, page_path, viewport):
    """A fresh page at ``viewport`` with the site loaded and MathJax done typesetting."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlparse(route.request.url).hostname == "127.0.0.1"
            else route.abort()
        ),
    )
    page.goto(urljoin(site_url, page_path), wait_until="load")
    if page.locator(".math").count() > 0:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15_000
        )
        page.evaluate("() => MathJax.startup.promise")
    return context, page


@pytest.fixture(scope="module")
def phone_visits(browser, site_url) -> dict[str, dict]:
    """Every page at a phone's width."""
    results = {}
    for page_path in PAGES:
        context, page = _load(browser, site_url, page_path, PHONE)
        results[page_path] = page.evaluate(PHONE_FACTS)
        context.close()
    return results


@pytest.fixture(scope="module")
def visits(browser, site_url) -> dict[str, dict]:
    """Load every page once; record its JavaScript errors, off-site requests and rendered facts."""
    results = {}
    for page_path in PAGES:
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        errors: list[str] = []
        offsite: list[str] = []
        failed: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.on(
            "response",
            lambda response, failed=failed: (
                failed.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on(
            "console",
            lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None,
        )

        def block_offsite(route, offsite=offsite):
            if urlparse(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                offsite.append(route.request.url)
                route.abort()

        page.route("**/*", block_offsite)
        page.goto(urljoin(site_url, page_path), wait_until="load")
        has_math = page.locator(".math").count() > 0
        if has_math:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=15_000,
            )
            page.evaluate("() => MathJax.startup.promise")
        results[page_path] = {
            "errors": errors,
            "offsite": offsite,
            "failed": failed,
            "description": page.evaluate(
                "() => (document.querySelector('meta[name=description]') || {}).content || ''"
            ),
            "favicon": page.evaluate(
                "() => (document.querySelector('link[rel~=icon]') || {}).href || ''"
            ),
            "math_nodes": page.locator(".math").count(),
            "mathjax_nodes": page.locator("mjx-container").count(),
            "text": page.locator("article").inner_text(),
            "images": page.evaluate(
                "() => Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])"
            ),
            "links": page.evaluate(
                "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
            ),
            "outputs": page.locator("article .cell_output").count(),
            "wide_blocks": page.evaluate(WIDE_BLOCKS),
        }
        context.close()
    return results


def _axe_script() -> Path:
    """axe-core's browser build, as shipped inside the ``axe-playwright-python`` wheel (pinned
    in requirements.txt), so that the tests need no Node.js and download nothing."""
    import importlib.resources

    return Path(str(importlib.resources.files("axe_playwright_python") / "axe.min.js"))


@pytest.fixture(scope="module")
def axe_results(browser, site_url) -> dict[str, list[str]]:
    """axe-core's violations of serious or critical impact on every page, one line each, with
    the rule that a control's name contains its visible text (WCAG 2.5.3) switched on: axe marks
    it experimental and leaves it off by default."""
    script, results = _axe_script(), {}
    for page_path in PAGES:
        context, page = _load(browser, site_url, page_path, DESKTOP)
        page.add_script_tag(path=str(script))
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations'], rules: "
            "{'label-content-name-mismatch': {enabled: true}}})).violations"
        )
        results[page_path] = [
            f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['nodes'][0]['target']}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        context.close()
    return results


@pytest.mark.parametrize("page_path", PAGES)
def test_page_passes_axe_core(axe_results, page_path):
    assert axe_results[page_path] == []


def test_axe_core_finds_a_planted_violation(browser, site_url):
    # the check can fail: an image without alt text and a button without a name
    context, page = _load(browser, site_url, PAGES[0], DESKTOP)
    page.evaluate(
        """() => document.querySelector('article').insertAdjacentHTML('afterbegin',
             '<img src="_static/x.png"><button></button>')"""
    )
    page.add_script_tag(path=str(_axe_script()))
    found = page.evaluate(
        "async () => (await axe.run(document)).violations.map(v => v.id)"
    )
    context.close()
    assert {"image-alt", "button-name"} <= set(found)


@pytest.mark.parametrize("page_path", PAGES)
def test_page_has_no_javascript_errors(visits, page_path):
    assert visits[page_path]["errors"] == []


@pytest.mark.parametrize("page_path", PAGES)
def test_every_request_of_a_page_succeeds(visits, page_path):
    # The favicon included: a browser asks for /favicon.ico when a page names none.
    assert visits[page_path]["failed"] == []


@pytest.mark.parametrize("page_path", PAGES)
def test_page_has_a_favicon_and_a_description(visits, page_path):
    visit = visits[page_path]
    assert visit["favicon"].endswith("favicon.svg")
    assert 60 <= len(visit["description"]) <= 160


@pytest.mark.parametrize("page_path", PAGES)
def test_page_needs_no_other_host(visits, page_path):
    # Off-site requests were blocked; a page that still asks for one is not readable offline.
    assert visits[page_path]["offsite"] == []


@pytest.mark.parametrize("page_path", PAGES)
def test_math_is_rendered(visits, page_path):
    visit = visits[page_path]
    assert visit["mathjax_nodes"] >= visit["math_nodes"]
    assert "\\(" not in visit["text"] and "\\[" not in visit["text"]
    assert "$$" not in visit["text"]


def test_chapters_have_math(visits):
    assert all(
        visits[page]["mathjax_nodes"] > 0 for page in NOTEBOOK_CHAPTERS if "report" not in page
    )


@pytest.mark.parametrize("page_path", PAGES)
def test_images_load(visits, page_path):
    broken = [src for src, ok in visits[page_path]["images"] if not ok]
    assert broken == []


@pytest.mark.parametrize("page_path", PAGES)
def test_internal_links_resolve(visits, page_path, site_url):
    missing = []
    for href in visits[page_path]["links"]:
        if not href.startswith(site_url):
            continue
        parsed = urlparse(href)
        target = SITE / unquote(parsed.path[len(urlparse(site_url).path) :])
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            missing.append(href)
        elif parsed.fragment and target.suffix == ".html":
            html = target.read_text(encoding="utf-8")
            if f'id="{unquote(parsed.fragment)}"' not in html:
                missing.append(href)
    assert missing == []


@pytest.mark.parametrize("page_path", NOTEBOOK_CHAPTERS)
def test_chapter_shows_executed_output(visits, page_path):
    assert visits[page_path]["outputs"] >= 1


def test_every_chapter_is_a_notebook():
    # Sanity check of the page lists the tests above run over.
    assert len(NOTEBOOK_CHAPTERS) >= 5
    assert "book/preface.html" in PAGES


@pytest.mark.parametrize("page_path", PAGES)
def test_code_and_output_fit_the_text_column(visits, page_path):
    """No reader scrolls sideways to see a line of code or a column of printed output."""
    assert visits[page_path]["wide_blocks"] == []


@pytest.mark.parametrize("page_path", PAGES)
def test_page_fits_a_phone_screen(phone_visits, page_path):
    facts = phone_visits[page_path]
    assert facts["overflowing"] == []
    assert facts["page"] <= facts["screen"]


@pytest.mark.parametrize("page_path", PAGES)
def test_equation_numbers_leave_the_equation_its_width(phone_visits, page_path):
    """A numbered display equation keeps at least four fifths of its box on a phone."""
    squeezed = [
        (name, round(width), round(box))
        for name, box, width in phone_visits[page_path]["equations"]
        if width < 0.8 * box
    ]
    assert squeezed == []

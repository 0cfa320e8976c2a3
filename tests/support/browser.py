"""The admin in a real headless Chromium: launching it (or skipping without it), one page
at one width (:class:`Visit`: open, check the layout facts every page must keep, take a
full-page screenshot) and logging in. Used by ``test_admin_e2e`` and
``test_admin_jobs_e2e``.

Screenshots (``admin-<page>-<width>.png``) go to ``docs/img/`` when ``JQ_SCREENSHOTS=1``,
else to the test's tmp dir (the ``shots`` fixture). Without Chromium (or Playwright) the
tests are skipped, unless ``JQ_REQUIRE_BROWSER=1`` (``scripts/test`` sets it): then they
fail, so a CI run cannot pass without the browser.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("JQ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = [1280, 1920]
ADMIN = "/admin/django_jobqueue/failedjob/"
CRUMBS = "Home › Job queue › Failed jobs"  # noqa: RUF001 (the admin's own separator)
WHEN = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b")
DJANGO_DEFAULT_DATE = re.compile(r"\b(a\.m\.|p\.m\.|noon|midnight)|[A-Z][a-z]{2}\. \d{1,2}, \d{4}")

# The words of the elements ``selector`` matches that are "cut": whose text spans two line
# boxes (each as "<word> in <the element's text>").
JS_CUT_WORDS = """(selector) => {
  const cut = [];
  for (const element of document.querySelectorAll(selector)) {
    const text = element.textContent;
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length > 1) cut.push(match[0] + ' in ' + text.trim());
      }
    }
  }
  return cut;
}"""

# Layout facts read in the page. A word of a filter title is cut as above; the page scrolls
# sideways when the document or the result table's own scrolling box is wider than its
# viewport.
JS_LAYOUT = """() => {
  const doc = document.documentElement;
  const results = document.querySelector('#changelist .results');
  const cut = (""" + JS_CUT_WORDS + """)('#changelist-filter summary, #changelist-filter h3');
  return {
    docScroll: doc.scrollWidth, docClient: doc.clientWidth,
    resultsScroll: results ? results.scrollWidth : 0,
    resultsClient: results ? results.clientWidth : 0,
    cutWords: cut,
  };
}"""


# The breadcrumbs as a list: a <div> with &rsaquo; between links (Django 5.2 and this app's pages)
# or an <ol> of <li> (Django 6's own pages, separators drawn by CSS).
JS_CRUMBS = """() => {
  const crumbs = document.querySelector('.breadcrumbs');
  if (crumbs.tagName === 'OL') {
    return [...crumbs.querySelectorAll('li')].map(li => li.innerText.trim());
  }
  return crumbs.innerText.split('\u203a').map(part => part.trim());
}"""


def browser_or_skip():
    """Playwright's sync API, or a skip (a failure under ``JQ_REQUIRE_BROWSER=1``)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return sync_playwright
    if os.environ.get("JQ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (JQ_REQUIRE_BROWSER=1): {problem}")
    pytest.skip(problem)


class Visit:
    """One browser page at one width: open admin pages, check their layout, screenshot."""

    def __init__(self, page, base, shots, width):
        self.page, self.base, self.shots, self.width = page, base, shots, width
        self.saved: list[Path] = []

    def go(self, path):
        self.page.goto(self.base + path)

    def check(self, name, crumbs=CRUMBS):
        """The layout facts every page must keep, then a full-page screenshot."""
        facts = self.page.evaluate(JS_LAYOUT)
        assert facts["docScroll"] <= facts["docClient"], (name, self.width, facts)
        assert facts["resultsScroll"] <= facts["resultsClient"], (name, self.width, facts)
        assert facts["cutWords"] == [], (name, self.width, facts["cutWords"])
        trail = " › ".join(self.page.evaluate(JS_CRUMBS))  # noqa: RUF001
        assert trail.startswith(crumbs), (name, trail)
        text = self.page.locator("#content").inner_text()
        assert not DJANGO_DEFAULT_DATE.search(text), (name, DJANGO_DEFAULT_DATE.search(text))
        path = self.shots / f"admin-{name}-{self.width}.png"
        self.screenshot(path)
        self.saved.append(path)

    def screenshot(self, path, attempts=3):
        """A full-page screenshot. Chromium's compositor sometimes refuses a capture on a
        loaded 2-core machine ("Unable to capture screenshot", CI with both Django lines at
        once); that says nothing about the page, whose facts were checked above, so the
        capture is asked again, a bounded number of times."""
        from playwright.sync_api import Error

        for attempt in range(1, attempts + 1):
            try:
                self.page.screenshot(path=path, full_page=True)
                return
            except Error as error:
                if "Unable to capture screenshot" not in str(error) or attempt == attempts:
                    raise
                self.page.wait_for_load_state("load")

    def columns_on_screen(self, *names):
        """The changelist's ``names`` column headers lie wholly inside the viewport."""
        for name in names:
            box = self.page.locator(f"#result_list th.column-{name}").bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= self.width, (name, box)


def browse(sync_playwright, base, shots, look, then=None):
    """``look(visit)`` at 1920 px then at 1280 px, on one Chromium page resized (logged in
    first), then ``then(visit)`` at 1280 px: pages are checked at both widths before
    ``then`` changes anything. The screenshots saved, in order."""
    saved = []
    with chromium_page(sync_playwright) as page:
        for visit in each_width(page, base, shots):
            look(visit)
            saved += visit.saved
        if then is not None:
            done = len(visit.saved)
            then(visit)
            saved += visit.saved[done:]
    return saved


@contextlib.contextmanager
def chromium_page(sync_playwright):
    """A page of a headless Chromium (``sync_playwright`` from :func:`browser_or_skip`), at
    1920 px until resized; the browser is closed after."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 900})
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            browser.close()


def each_width(page, base, shots, widths=(1920, 1280)):
    """A :class:`Visit` of one page resized to each of ``widths`` in turn, logged in at
    the first (the session carries over)."""
    for n, width in enumerate(widths):
        page.set_viewport_size({"width": width, "height": 900})
        visit = Visit(page, base, shots, width)
        if n == 0:
            login(visit)
        yield visit


def login(visit):
    """Log in as the ``superuser`` test user (``tests.support.admin.user``)."""
    visit.go(f"/admin/login/?next={ADMIN}")
    visit.page.fill("#id_username", "superuser")
    visit.page.fill("#id_password", "pw")
    visit.page.click("input[type=submit]")
    # The changelist it lands on (with no failed jobs it has no #result_list).
    visit.page.wait_for_url(f"**{ADMIN}")

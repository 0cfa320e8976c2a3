"""The browser helper's screenshot survives Chromium's transient refusal to capture, and
still fails on anything else (or when the refusal persists)."""

from __future__ import annotations

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from tests.support.browser import Visit  # noqa: E402


class RefusingPage:
    """A page whose first ``refusals`` captures fail the way Chromium's compositor does."""

    def __init__(self, refusals, message="Protocol error (Page.captureScreenshot): "
                 "Unable to capture screenshot"):
        self.refusals, self.message, self.captures = refusals, message, []

    def screenshot(self, path, full_page):
        if self.refusals:
            self.refusals -= 1
            raise playwright.Error(self.message)
        self.captures.append((path, full_page))

    def wait_for_load_state(self, state):
        pass


def test_a_refused_capture_is_asked_again(tmp_path):
    page = RefusingPage(refusals=2)
    Visit(page, "", tmp_path, 1280).screenshot(tmp_path / "shot.png")
    assert page.captures == [(tmp_path / "shot.png", True)]


def test_a_refusal_that_persists_fails(tmp_path):
    page = RefusingPage(refusals=3)
    with pytest.raises(playwright.Error, match="Unable to capture"):
        Visit(page, "", tmp_path, 1280).screenshot(tmp_path / "shot.png")
    assert page.captures == []


def test_other_errors_are_not_retried(tmp_path):
    page = RefusingPage(refusals=1, message="Target page, context or browser has been closed")
    with pytest.raises(playwright.Error, match="closed"):
        Visit(page, "", tmp_path, 1280).screenshot(tmp_path / "shot.png")
    assert page.refusals == 0 and page.captures == []

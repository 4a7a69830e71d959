"""The built site in a real browser: headless Chromium opens the key pages from a loopback
server, with no network, and each must render without a single console error.

Checked pages: the home page, a spec page, an event reference page, the requirement index
and the ordering diagrams (where every Mermaid diagram must have been drawn, from the
vendored script, not a CDN). Search must find an event from the home page. A screenshot of
every page is kept under ``$RWS_ARTIFACTS_DIR`` (default ``build/artifacts/``) for review.

Chromium and chromedriver are Debian's packages (``make browser`` installs them); the test
skips, saying so, only when they are not installed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.docs.conftest import PROJECT_ROOT, artifacts_dir

__all__: list[str] = []

pytestmark = pytest.mark.slow

# (screenshot name, path, a text the page must show)
PAGES = (
    ("home", "/", "Responses API over WebSocket"),
    ("spec-cache", "/spec/cache/", "RWS-CACHE-4"),
    ("event-output-text-delta", "/reference/events/response.output_text.delta/", "delta"),
    ("requirement-index", "/requirements/", "RWS-TRANS-1"),
    ("diagrams-ordering", "/diagrams/ordering/", "Ordering state machines"),
    ("guide-conformance", "/conformance-guide/", "The expected-failures file"),
    ("guide-client-authors", "/guides/client-authors/", "Writing an adapter"),
)


def _ordering_machines() -> list[str]:
    rules = json.loads((PROJECT_ROOT / "schemas" / "rules" / "ordering.json").read_text("utf-8"))
    return list(rules["machines"])


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _full_page_screenshot(driver: Any, name: str) -> None:
    """Save the whole page (up to 6000 px high) as ``<name>.png`` in the artefacts folder."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(full), 6000))
    try:
        driver.save_screenshot(str(artifacts_dir() / f"{name}.png"))
    finally:
        driver.set_window_size(width, height)


def _console_errors(driver: Any) -> list[str]:
    return [
        f"{e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"
    ]


def _wait_for_diagrams(driver: Any) -> list[int]:
    """Wait until Material has replaced every Mermaid source block by a drawing; return the
    drawings' heights in pixels."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('pre.mermaid').length") == 0
    )
    heights: list[int] = driver.execute_script(
        "return [...document.querySelectorAll('div.mermaid')]"
        ".map(e => Math.round(e.getBoundingClientRect().height))"
    )
    return heights


@pytest.mark.parametrize(("name", "path", "text"), PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_without_console_errors(
    browser: Any, site_url: str, name: str, path: str, text: str
) -> None:
    """The page loads, shows its content and logs no console error; a screenshot is kept."""
    _open(browser, site_url + path)
    if name == "diagrams-ordering":
        heights = _wait_for_diagrams(browser)
        # One drawing per machine of schemas/rules/ordering.json, each with a real size.
        assert len(heights) == len(_ordering_machines())
        assert min(heights) > 20, f"a diagram was not drawn: heights {heights}"
    body = browser.find_element("tag name", "body").text
    _full_page_screenshot(browser, name)
    assert text in body
    assert "404" not in browser.title
    assert _console_errors(browser) == []


def test_requirement_anchor_scrolls_to_its_row(browser: Any, site_url: str) -> None:
    """A link to ``requirements/#rws-cache-4`` lands on that requirement's row."""
    _open(browser, f"{site_url}/requirements/#rws-cache-4")
    top = browser.execute_script(
        "return document.getElementById('rws-cache-4').getBoundingClientRect().top"
    )
    assert 0 <= top < browser.execute_script("return window.innerHeight")
    assert _console_errors(browser) == []


def test_search_finds_an_event_type(browser: Any, site_url: str) -> None:
    """Built-in search, typed into on the home page, lists the event's reference page."""
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site_url + "/")
    browser.find_element("css selector", "label.md-search__icon, .md-search__input").click()
    field = browser.find_element("css selector", "input.md-search__input")
    field.send_keys("function_call_arguments")
    WebDriverWait(browser, 20).until(
        lambda d: len(d.find_elements("css selector", ".md-search-result__item")) > 0
    )
    links = [
        a.get_attribute("href")
        for a in browser.find_elements("css selector", ".md-search-result__item a")
    ]
    browser.save_screenshot(str(artifacts_dir() / "search.png"))
    assert any("response.function_call_arguments" in (href or "") for href in links), links
    assert _console_errors(browser) == []

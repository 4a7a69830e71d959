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
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docs.conftest import PROJECT_ROOT

__all__: list[str] = []

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# No network, no background traffic, no first-run UI: the browser sees only the loopback site.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,1800",
)
MERMAID_JS = PROJECT_ROOT / "docs" / "assets" / "vendor" / "mermaid.min.js"

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


def _artifacts_dir() -> Path:
    chosen = os.environ.get("RWS_ARTIFACTS_DIR")
    folder = Path(chosen) if chosen else PROJECT_ROOT / "build" / "artifacts"
    folder = folder / "docs-site"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium driven by chromedriver, with a fresh profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} is not installed (Debian packages chromium and "
            "chromium-driver; 'make browser' installs them)"
        )
    assert MERMAID_JS.exists(), f"{MERMAID_JS} is missing: run 'make docs-vendor'"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download anything
        service = Service(executable_path=str(CHROMEDRIVER))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


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
        driver.save_screenshot(str(_artifacts_dir() / f"{name}.png"))
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
    browser.save_screenshot(str(_artifacts_dir() / "search.png"))
    assert any("response.function_call_arguments" in (href or "") for href in links), links
    assert _console_errors(browser) == []

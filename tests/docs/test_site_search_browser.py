"""The site as implementers search and read it, in a real browser (issue 12, item 6).

An identifier typed into the search box — a requirement ID, a check id, an error code — must
give its own table row first: the first result is the page that holds the row, and the first
section listed under it is the row itself (``requirements/#rws-cache-4``), not the page's
top or another section that merely mentions the identifier. Before the row entries of
``conformance/docsgen/site_search.py`` and ``docs/assets/search-ids.js``, ``RWS-CACHE-4``
listed 102 results with the whole requirement index on top, and
``previous_response_not_found`` did not find the errors page.

The search box is typed into key by key, as a reader does; search answers every keystroke,
so the test counts the queries the page sends to Material's search worker and the answers
it gets back, and reads the results only once the last query is answered (no sleeps).

Also drawn and measured: the header's specification version and "draft" badge, the ordering
page's scope tables and its ``response`` diagram. Screenshots of all of these are kept under
``$RWS_ARTIFACTS_DIR`` (default ``build/artifacts/``) for review.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.docs.conftest import PROJECT_ROOT, artifacts_dir

__all__: list[str] = []

pytestmark = pytest.mark.slow

# Counts the queries the page posts to the search worker (message type 2, SEARCH_QUERY) and
# the worker's answers (type 3, SEARCH_RESULT); Material renders the results of an answer as
# it arrives, so once both counts agree the list shows the last query's results.
_COUNT_SEARCHES = """
window.__rwsSearch = {posted: 0, answered: 0};
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (message) {
  if (message && message.type === 2) {
    if (!this.__rwsCounted) {
      this.__rwsCounted = true;
      this.addEventListener("message", (event) => {
        if (event.data && event.data.type === 3) window.__rwsSearch.answered += 1;
      });
    }
    window.__rwsSearch.posted += 1;
  }
  return post.apply(this, arguments);
};
"""
_ALL_ANSWERED = "const s = window.__rwsSearch; return s.posted > 0 && s.posted === s.answered"
# The links of the first result: its page first, then the sections listed under it.
_FIRST_RESULT_LINKS = """
const item = document.querySelector(".md-search-result__list > .md-search-result__item");
return item ? [...item.querySelectorAll("a")].map((a) => a.getAttribute("href")) : [];
"""


def _check_id(anchor: str) -> str:
    """The check id a catalogue anchor names, read from its row of docs/checks.md."""
    text = (PROJECT_ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    found = re.search(rf'id="{re.escape(anchor)}"></a>\s*`([^`]+)`', text)
    assert found, f"docs/checks.md has no row anchored {anchor}"
    return found.group(1)


# (screenshot name, query, page of the row, the row's anchor)
QUERIES = (
    ("requirement", "RWS-CACHE-4", "/requirements/", "rws-cache-4"),
    # A prefix of RWS-CACHE-10 to -13: the exact ID must still come first.
    ("requirement-prefix", "RWS-CACHE-1", "/requirements/", "rws-cache-1"),
    (
        "check",
        "check-cache-unknown-previous-response",
        "/checks/",
        "check-cache-unknown-previous-response",
    ),
    # Stop words inside the id ("on", "other") must not stop it being found.
    (
        "check-stop-words",
        "check-cache-store-false-miss-on-other-connection",
        "/checks/",
        "check-cache-store-false-miss-on-other-connection",
    ),
    (
        "error-code",
        "previous_response_not_found",
        "/spec/errors/",
        "previous_response_not_found",
    ),
)


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _search(driver: Any, site_url: str, query: str) -> list[str]:
    """Type ``query`` into the search box of the home page; the first result's links."""
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, site_url + "/")
    driver.execute_script(_COUNT_SEARCHES)
    driver.find_element("css selector", "label.md-search__icon, .md-search__input").click()
    driver.find_element("css selector", "input.md-search__input").send_keys(query)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(_ALL_ANSWERED))
    links: list[str] = driver.execute_script(_FIRST_RESULT_LINKS)
    return links


@pytest.mark.parametrize(("name", "query", "page", "anchor"), QUERIES, ids=[q[0] for q in QUERIES])
def test_identifier_in_search_gives_its_own_row_first(
    browser: Any, site_url: str, name: str, query: str, page: str, anchor: str
) -> None:
    """The first result is the row's page, and the first section under it is the row."""
    if query.startswith("check-"):
        query = _check_id(query)  # the id as the catalogue shows it: cache.unknown-...
    links = _search(browser, site_url, query)
    browser.save_screenshot(str(artifacts_dir() / f"search-{name}.png"))
    assert links, f"search for {query!r} listed nothing"
    parts = [urlsplit(link) for link in links]
    assert parts[0].path == page, f"{query!r}: first result {links[0]}, not {page}"
    sections = [p for p in parts if p.fragment]
    assert sections, f"{query!r}: the first result lists no section: {links}"
    assert (sections[0].path, sections[0].fragment) == (page, anchor), (
        f"{query!r}: first section {sections[0].geturl()}, not {page}#{anchor}; "
        f"first result: {links}"
    )
    # The link lands on the row: the page has an element with that id.
    _open(browser, site_url + page + "#" + anchor)
    assert browser.execute_script(f"return !!document.getElementById({anchor!r})")


def test_other_queries_are_left_to_search(browser: Any, site_url: str) -> None:
    """A query that is not shaped like an identifier still searches words: two words that
    appear on the requirement index and the cache page find both."""
    from selenium.webdriver.support.ui import WebDriverWait

    _search(browser, site_url, "hydrated reconnect")
    WebDriverWait(browser, 20).until(
        lambda d: len(d.find_elements("css selector", ".md-search-result__item")) > 1
    )
    pages = {
        urlsplit(a.get_attribute("href") or "").path
        for a in browser.find_elements("css selector", ".md-search-result__item a")
    }
    assert {"/spec/cache/", "/requirements/"} <= pages, pages


def test_header_shows_version_and_status(browser: Any, site_url: str) -> None:
    """The header, as drawn, shows "Spec version <version>" and a "DRAFT" badge, inside
    the window (not pushed out by the title or the search box)."""
    version = re.search(
        r"This is the `([^`]+)` version\.",
        (PROJECT_ROOT / "spec" / "index.md").read_text(encoding="utf-8"),
    )
    assert version, "spec/index.md states no version"
    _open(browser, site_url + "/spec/cache/")
    element = browser.find_element("css selector", "header .rws-spec-version")
    browser.find_element("css selector", "header").screenshot(str(artifacts_dir() / "header.png"))
    assert element.is_displayed()
    assert f"Spec version {version.group(1)}" in element.text
    assert "DRAFT" in element.text
    box = element.rect
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= width, (box, width)


def test_ordering_scope_table_and_response_diagram(browser: Any, site_url: str) -> None:
    """The scope tables of "How events are routed" fit the content column (nothing to
    scroll sideways), and the ``response`` diagram is drawn at full size; screenshots of
    both are kept."""
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site_url + "/diagrams/ordering/")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('pre.mermaid').length") == 0
    )
    tables = browser.execute_script(
        """
        const out = [];
        let node = document.getElementById("how-events-are-routed").nextElementSibling;
        for (; node && node.tagName !== "H2"; node = node.nextElementSibling) {
          if (node.matches(".md-typeset__scrollwrap")) {
            out.push([node.scrollWidth, node.clientWidth]);
          }
        }
        return out;
        """
    )
    assert len(tables) == 2, tables
    assert all(scroll <= client for scroll, client in tables), tables
    heading = browser.find_element("id", "how-events-are-routed")
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    browser.save_screenshot(str(artifacts_dir() / "ordering-scope-table.png"))

    machine = browser.find_element("id", "machine-response")
    diagram = browser.find_element(
        "xpath",
        "//*[@id='machine-response']/following-sibling::div[contains(@class, 'mermaid')][1]",
    )
    browser.execute_script("arguments[0].scrollIntoView()", machine)
    browser.save_screenshot(str(artifacts_dir() / "ordering-response-diagram.png"))
    # Readable: Material draws the diagram in a closed shadow root, so its scale is read from
    # its height - seven states from start to ended, top to bottom, about 760 px at natural
    # size. Drawn edge by edge, before the states sharing their exits were grouped, it was
    # scaled to under half and was about 350 px high, its labels a few pixels.
    assert diagram.rect["height"] > 600, diagram.rect


def test_response_diagram_fits_its_column(browser: Any, site_url: str) -> None:
    """The ``response`` machine can be read without scrolling sideways."""
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site_url + "/diagrams/ordering/")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('pre.mermaid').length") == 0
    )
    diagram = browser.find_element(
        "xpath", "//*[@id='machine-response']/following-sibling::div[contains(@class, 'mermaid')]"
    )
    sizes = browser.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth]", diagram
    )
    assert sizes[0] <= sizes[1], f"diagram {sizes[0]} px wide in a {sizes[1]} px column"

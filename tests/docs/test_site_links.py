"""No broken internal link anywhere on the built site.

Every ``href`` and ``src`` of every page of the built site that stays on the site is
resolved the way a browser resolves it (relative to the page's URL, directory URLs ending in
``/`` served by their ``index.html``); the target file must exist and, when the link has a
fragment, the target page must have an element with that ``id``. This covers all pages, not
only the ones the browser test opens.
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

__all__: list[str] = []

pytestmark = pytest.mark.slow

# A script, stylesheet or image loaded from another host (absolute or protocol-relative URL).
_EXTERNAL_RESOURCE = re.compile(
    r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"[^>]*>'
)
# A canonical link names the page's published address: the browser fetches nothing for it.
_NAMES_ONLY = re.compile(r'\brel="canonical"')
_LINK_ATTRIBUTES = {"a": "href", "link": "href", "script": "src", "img": "src", "source": "src"}


class _Page(HTMLParser):
    """The ids a page defines and the links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.ids.add(str(values[key]))
        wanted = _LINK_ATTRIBUTES.get(tag)
        if wanted and values.get(wanted):
            self.links.append(str(values[wanted]))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _target_file(site: Path, url_path: str) -> Path:
    """The file a site-relative URL path is served from."""
    candidate = site / url_path.lstrip("/")
    if url_path.endswith("/") or candidate.is_dir():
        return candidate / "index.html"
    return candidate


def _internal(link: str) -> bool:
    parts = urlsplit(link)
    return not parts.scheme and not parts.netloc and not link.startswith("//")


def broken_links(site: Path) -> list[str]:
    """Every internal link of the site whose file or anchor does not exist."""
    pages = {p: _parse(p) for p in sorted(site.rglob("*.html"))}
    problems: list[str] = []
    for path, page in pages.items():
        url = "/" + path.relative_to(site).as_posix()
        base = posixpath.dirname(url) + "/"
        for link in page.links:
            if not _internal(link):
                continue
            parts = urlsplit(link)
            target_path = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
            if parts.path.endswith("/") and not target_path.endswith("/"):
                target_path += "/"
            target = _target_file(site, target_path) if parts.path else path
            where = f"{path.relative_to(site)}: {link}"
            if not target.exists():
                problems.append(f"{where} -> missing {target.relative_to(site)}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(
                        f"{where} -> no #{parts.fragment} in {target.relative_to(site)}"
                    )
    return problems


def test_every_internal_link_and_anchor_of_the_site_resolves(built_site: Path) -> None:
    """Crawl every page: each internal link reaches an existing file and anchor."""
    problems = broken_links(built_site)
    assert problems == [], f"{len(problems)} broken internal link(s):\n" + "\n".join(problems)


def test_crawler_reports_a_missing_page_and_a_missing_anchor(tmp_path: Path) -> None:
    """The crawler itself finds both kinds of breakage (so a green run means something)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="a/">ok</a> <a href="a/#here">ok</a> <a href="b/">gone</a> '
        '<a href="a/#nowhere">bad anchor</a> <a href="https://example.org/x">external</a>',
        encoding="utf-8",
    )
    (tmp_path / "a" / "index.html").write_text(
        '<h1 id="here">A</h1><a href="../">up</a><a href="#here">self</a>', encoding="utf-8"
    )
    problems = broken_links(tmp_path)
    assert problems == [
        "index.html: b/ -> missing b/index.html",
        "index.html: a/#nowhere -> no #nowhere in a/index.html",
    ]


def test_site_has_every_generated_page_kind(built_site: Path) -> None:
    """The home page, spec pages, event pages, the indexes and diagrams are all built."""
    expected = [
        "index.html",
        "spec/index.html",
        "spec/cache/index.html",
        "spec/appendix-conformance-model/index.html",
        "spec/changelog/index.html",
        "reference/index.html",
        "reference/events/response.create/index.html",
        "reference/events/response.output_text.delta/index.html",
        "reference/defs/response/index.html",
        "requirements/index.html",
        "checks/index.html",
        "diagrams/ordering/index.html",
        "diagrams/cache/index.html",
        "guides/client-authors/index.html",
        "search/search_index.json",
    ]
    missing = [p for p in expected if not (built_site / p).is_file()]
    assert missing == []


def test_site_loads_nothing_from_outside(built_site: Path) -> None:
    """No page pulls a script, stylesheet or image from another host: the site renders
    offline, and a reader's browser talks to nobody but the site."""
    external: list[str] = []
    for path in sorted(built_site.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for match in _EXTERNAL_RESOURCE.finditer(text):
            if _NAMES_ONLY.search(match.group(0)):
                continue
            external.append(f"{path.relative_to(built_site)}: {match.group(0)}")
    assert external == []

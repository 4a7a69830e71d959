"""What the built site publishes besides its pages, read from the built files (no browser).

* every JSON Schema under ``schemas/`` is served at the path its ``$id`` names, with the
  same content, and all of ``schemas/`` is one zip linked from the schema reference;
* ``site_url`` is set and ``sitemap.xml`` lists every page at its published address;
* no page is titled "Index";
* every page's header shows the specification's version, read here from ``spec/index.md``
  ("This is the `<version>` version."), and its "draft" status.
"""

from __future__ import annotations

import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin
from xml.etree import ElementTree

import pytest

from tests.docs.conftest import PROJECT_ROOT

__all__: list[str] = []

pytestmark = pytest.mark.slow

SCHEMAS = PROJECT_ROOT / "schemas"
_SITE_URL = re.compile(r"^site_url:\s*(\S+)\s*$", re.MULTILINE)
_VERSION = re.compile(r"This is the `([^`]+)` version\.")
_TITLE = re.compile(r"<title>(?P<title>.*?)</title>", re.DOTALL)
_TOPIC = re.compile(
    r'data-md-component="header-topic">\s*<span class="md-ellipsis">(?P<topic>.*?)</span>',
    re.DOTALL,
)
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _site_url() -> str:
    found = _SITE_URL.search((PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert found, "mkdocs.yml sets no site_url"
    return found.group(1).rstrip("/") + "/"


def _spec_version() -> str:
    found = _VERSION.search((PROJECT_ROOT / "spec" / "index.md").read_text(encoding="utf-8"))
    assert found, "spec/index.md states no version ('This is the `<version>` version.')"
    return found.group(1)


def _pages(site: Path) -> list[Path]:
    """Every page of the built site (404.html is not a page of the sitemap)."""
    return sorted(p for p in site.rglob("index.html") if not p.is_relative_to(site / "assets"))


def _published(site: Path, page: Path, site_url: str) -> str:
    """The published address of a built page (``spec/cache/index.html`` ->
    ``<site_url>spec/cache/``)."""
    folder = page.parent.relative_to(site).as_posix()
    return site_url if folder == "." else f"{site_url}{folder}/"


def _schema_ids() -> dict[Path, str]:
    """Source file -> its ``$id``, for every JSON file under ``schemas/`` that has one."""
    ids: dict[Path, str] = {}
    for path in sorted(SCHEMAS.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("$id"), str):
            ids[path] = data["$id"]
    return ids


def test_every_schema_is_served_at_its_id(built_site: Path) -> None:
    """``https://<site>/schemas/draft/defs/error.json`` is the file the site serves at that
    URL: the ``$id`` lies below ``site_url`` and the built file has the source's bytes."""
    site_url = _site_url()
    ids = _schema_ids()
    assert len(ids) > 10, f"only {len(ids)} schemas with an $id under schemas/"
    problems: list[str] = []
    for source, schema_id in ids.items():
        name = source.relative_to(PROJECT_ROOT).as_posix()
        if not schema_id.startswith(site_url):
            problems.append(f"{name}: $id {schema_id} is not below site_url {site_url}")
            continue
        served = built_site / schema_id[len(site_url) :]
        if not served.is_file():
            problems.append(f"{name}: nothing at {served.relative_to(built_site)}")
        elif served.read_bytes() != source.read_bytes():
            problems.append(f"{name}: {served.relative_to(built_site)} differs")
    assert problems == []
    error = built_site / "schemas" / "draft" / "defs" / "error.json"
    assert json.loads(error.read_text(encoding="utf-8"))["$id"] == (
        f"{site_url}schemas/draft/defs/error.json"
    )


def test_relative_refs_of_served_schemas_resolve_on_the_site(built_site: Path) -> None:
    """A ``$ref`` to another file, resolved against the ``$id`` the way a validator does,
    names a file the site serves (so fetching by URL works, not only the schema itself)."""
    site_url = _site_url()
    unresolved: list[str] = []
    for source, schema_id in _schema_ids().items():
        text = source.read_text(encoding="utf-8")
        for ref in set(re.findall(r'"\$ref":\s*"([^"#]+)', text)):
            target = urljoin(schema_id, ref)
            if target.startswith(site_url) and not (built_site / target[len(site_url) :]).is_file():
                unresolved.append(f"{source.name}: {ref} -> {target}")
    assert unresolved == []


def _archive_link(site: Path) -> str:
    """The link of the schema reference page to the archive of ``schemas/``."""
    page = site / "reference" / "index.html"
    links: list[str] = re.findall(r'href="([^"]+\.zip)"', page.read_text(encoding="utf-8"))
    assert len(set(links)) == 1, f"the schema reference links {links} instead of one zip"
    return links[0]


def test_schemas_are_one_download(built_site: Path) -> None:
    """The schema reference links one zip; it exists on the site and holds every file of
    ``schemas/`` (schemas, examples, rule tables) with the same bytes, below one folder
    named after the specification's version."""
    link = _archive_link(built_site)
    archive = (built_site / "reference" / link).resolve()
    assert archive.is_file(), f"the reference links {link}, which the site does not serve"
    assert _spec_version() in archive.name
    sources = {
        p.relative_to(SCHEMAS).as_posix(): p.read_bytes()
        for p in SCHEMAS.rglob("*")
        if p.is_file() and p.suffix in (".json", ".md")
    }
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
        folders = {n.split("/", 1)[0] for n in names}
        assert len(folders) == 1
        assert _spec_version() in folders.pop()
        content = {n.split("/", 1)[1]: opened.read(n) for n in names}
    assert sorted(set(sources) - set(content)) == []
    assert sorted(set(content) - set(sources)) == []
    assert [n for n in sources if content[n] != sources[n]] == []


def test_sitemap_lists_every_page(built_site: Path) -> None:
    """``site_url`` is set, so the sitemap is not empty: it lists every built page at its
    published address, and nothing else."""
    site_url = _site_url()
    tree = ElementTree.parse(built_site / "sitemap.xml")
    listed = {(loc.text or "").strip() for loc in tree.iter(f"{_SITEMAP_NS}loc")}
    assert len(listed) > 20, f"the sitemap lists {len(listed)} pages"
    pages = {_published(built_site, p, site_url) for p in _pages(built_site)}
    assert sorted(pages - listed) == []
    assert sorted(listed - pages) == []


def test_no_page_is_titled_index(built_site: Path) -> None:
    """No page's ``<title>`` (tab, bookmark, search engine) nor header topic is "Index"."""
    offending: list[str] = []
    for page in _pages(built_site):
        text = page.read_text(encoding="utf-8")
        found = _TITLE.search(text)
        title = found.group("title").strip() if found else ""
        topic = _TOPIC.search(text)
        shown = topic.group("topic").strip() if topic else ""
        if not title or title.lower().startswith("index") or shown.lower() in ("", "index"):
            offending.append(f"{page.relative_to(built_site)}: {title!r}, header {shown!r}")
    assert offending == []


class _Header(HTMLParser):
    """The text of the header's version element (``.rws-spec-version``) and its status."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.text: list[str] = []
        self.status: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.depth:
            self.depth += 1
        elif "rws-spec-version" in (values.get("class") or "").split():
            self.depth = 1
            self.status = values.get("data-rws-spec-status")

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and data.strip():
            self.text.append(data.strip())


def test_header_shows_spec_version_and_draft(built_site: Path) -> None:
    """Every page's header carries the version ``spec/index.md`` states and the status
    "draft" (a version that is not a dated release)."""
    version = _spec_version()
    missing: list[str] = []
    for page in _pages(built_site):
        header = _Header()
        text = page.read_text(encoding="utf-8")
        header.feed(text[text.find("<header") : text.find("</header>")])
        shown = " ".join(header.text)
        if header.status != "draft" or version not in shown or "draft" not in shown.lower():
            missing.append(f"{page.relative_to(built_site)}: {header.status!r} {shown!r}")
    assert missing == []

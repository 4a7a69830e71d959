"""What the site build adds beyond the pages: the specification's version, page titles, and the
JSON Schemas served at their ``$id`` URLs and as one archive.

The mkdocs hook (``docs/hooks/site.py``, through :mod:`.site_hooks`) calls these while
``mkdocs build`` runs; nothing here writes below ``docs/``. The version is read from the
specification itself (``spec/index.md``, "Versions"), so that the header of every page and
the archive's name cannot disagree with the text.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conformance.schemas import SCHEMA_BASE_URI

__all__ = [
    "SpecVersion",
    "archive_path",
    "markdown_title",
    "schema_site_files",
    "schema_site_prefix",
    "schemas_archive",
    "spec_version",
]

SPEC_INDEX = Path("spec") / "index.md"
# spec/index.md, 1.7 Versions: "This is the `draft` version. Releases are dated (...)".
_VERSION = re.compile(r"This is the `([^`]+)` version\.")
_RELEASE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A first-level ATX heading, with an optional attribute list ({#spec}) after its text.
_H1 = re.compile(r"^#\s+(?P<title>.+?)(?:\s*\{[^}]*\})?\s*$", re.MULTILINE)
# Entries of the archive get one fixed time, so that two builds give the same bytes.
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SpecVersion:
    """The version of the specification the site publishes."""

    version: str  # "draft" or a release date (2026-12-01)

    @property
    def status(self) -> str:
        """``draft`` until a dated release freezes the pages, then ``release``."""
        return "release" if _RELEASE.fullmatch(self.version) else "draft"

    @property
    def label(self) -> str:
        """What the header shows: ``draft, not a release`` or ``release 2026-12-01``."""
        if self.status == "release":
            return f"release {self.version}"
        return f"version {self.version}, not a release: requirements may still change"


def spec_version(root: Path) -> SpecVersion:
    """The version the specification states in ``spec/index.md`` (1.7 Versions)."""
    text = (root / SPEC_INDEX).read_text(encoding="utf-8")
    found = _VERSION.search(text)
    if found is None:
        raise ValueError(f"{SPEC_INDEX}: no sentence 'This is the `<version>` version.'")
    return SpecVersion(found.group(1))


def markdown_title(markdown: str) -> str | None:
    """The text of a page's first ``# heading`` (attribute list removed), if it has one."""
    found = _H1.search(markdown)
    return found.group("title").strip() if found else None


def schema_site_prefix() -> str:
    """Where the schemas live below the site root: the path of their ``$id`` base
    (``schemas/draft``)."""
    return urlsplit(SCHEMA_BASE_URI).path.strip("/")


def _schema_prefix(site_url: str) -> str:
    # The $id base must lie below site_url, or no URL of the site could serve the schemas.
    if not site_url or not SCHEMA_BASE_URI.startswith(site_url.rstrip("/") + "/"):
        raise ValueError(
            f"the schemas' $id base {SCHEMA_BASE_URI} is not below site_url {site_url!r}: "
            "they could not be served at their $id"
        )
    return schema_site_prefix()


def _schema_sources(root: Path) -> list[Path]:
    return sorted(p for p in (root / "schemas").rglob("*.json") if p.is_file())


def schema_site_files(root: Path, site_url: str) -> dict[str, bytes]:
    """Site path -> content of every JSON file under ``schemas/``, at its ``$id`` path.

    ``schemas/defs/error.json`` (``$id`` ``<base>defs/error.json``) is served at
    ``schemas/draft/defs/error.json`` when the base is ``<site_url>schemas/draft/``. The
    examples and rule tables come along, so that relative references resolve on the site.
    """
    prefix = _schema_prefix(site_url)
    base = root / "schemas"
    return {
        f"{prefix}/{p.relative_to(base).as_posix()}": p.read_bytes() for p in _schema_sources(root)
    }


def archive_path(version: SpecVersion) -> str:
    """The site path of the archive of ``schemas/`` (linked from the schema reference)."""
    return f"schemas/responses-ws-schemas-{version.version}.zip"


def schemas_archive(root: Path, version: SpecVersion) -> bytes:
    """All of ``schemas/`` as one zip, below a folder named after the version."""
    folder = f"responses-ws-schemas-{version.version}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        base = root / "schemas"
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            if path.suffix not in (".json", ".md"):
                continue
            info = zipfile.ZipInfo(f"{folder}/{path.relative_to(base).as_posix()}", _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()

"""The mkdocs event handlers of the published site (``hooks:`` in mkdocs.yml loads them
through ``docs/hooks/site.py``).

* ``on_config``: the specification's version into ``extra.spec`` (the header shows it);
* ``on_files``: every schema at the site path of its ``$id``, and ``schemas/`` as one zip;
* ``on_page_markdown``: a page without a title in the navigation or its front matter takes
  its first heading (no page is called "Index");
* ``on_page_content``: error-code rows get anchors; anchored rows are remembered;
* ``on_post_build``: the remembered rows join the search index as entries of their own
  (:mod:`.site_search`).
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from conformance.docsgen.site_build import (
    archive_path,
    markdown_title,
    schema_site_files,
    schemas_archive,
    spec_version,
)
from conformance.docsgen.site_search import RowEntry, add_entries, anchor_code_rows, row_entries

__all__ = ["on_config", "on_files", "on_page_content", "on_page_markdown", "on_post_build"]

# The page whose tables list the error codes (generated from spec/errors.md).
ERRORS_PAGE = "spec/errors.md"

# Row entries found while pages render, per page URL; reset at every build (mkdocs serve
# rebuilds in the same process).
_rows: dict[str, list[RowEntry]] = {}


def _root(config: MkDocsConfig) -> Path:
    return Path(str(config.config_file_path)).resolve().parent


def _error_codes(root: Path) -> list[str]:
    data = json.loads((root / "schemas" / "rules" / "errors.json").read_text(encoding="utf-8"))
    return sorted(data.get("codes", {}))


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Read the specification's version for the header and check ``site_url``."""
    _rows.clear()
    version = spec_version(_root(config))
    config.extra["spec"] = {
        "version": version.version,
        "status": version.status,
        "label": version.label,
        "schemas_archive": archive_path(version),
    }
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the schemas at their ``$id`` paths and the archive of ``schemas/``."""
    root = _root(config)
    for path, content in schema_site_files(root, str(config.site_url or "")).items():
        files.append(File.generated(config, path, content=content))
    version = spec_version(root)
    files.append(
        File.generated(config, archive_path(version), content=schemas_archive(root, version))
    )
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Title a page by its first heading when neither the navigation nor front matter does.

    mkdocs takes a title from the first heading only when it opens the page; generated
    pages open with a comment, and an untitled page is then named after its file: "Index".
    """
    if not page.meta.get("title") and (page.title in (None, "Index") or page.is_index):
        title = markdown_title(markdown)
        if title:
            page.meta["title"] = title
    return markdown


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Anchor the error-code rows and remember every anchored row for search."""
    codes: list[str] = []
    if page.file.src_uri == ERRORS_PAGE:
        codes = _error_codes(_root(config))
        html = anchor_code_rows(html, codes)
    found = row_entries(html, codes)
    if found:
        _rows[page.url] = found
    return html


def on_post_build(config: MkDocsConfig) -> None:
    """Add the remembered rows to the search index the search plugin has written."""
    path = Path(str(config.site_dir)) / posixpath.join("search", "search_index.json")
    if not path.exists() or not _rows:
        return
    index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(
        json.dumps(add_entries(index, _rows), ensure_ascii=False, separators=(",", ":")),
        encoding="utf-8",
    )

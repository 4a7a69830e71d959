"""The specification pages of the site: every ``spec/*.md`` copied to ``docs/spec/``.

The pages are authored once, in ``spec/`` (with the requirement text rendered into them by
``responses-ws spec render``); the site shows copies that carry a "generated" banner so that
nobody edits the copy. Links between spec pages are relative (``cache.md#rws-cache-4``) and
stay valid because every page is copied into the same folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance.docsgen._markdown import banner

__all__ = ["SPEC_DIR", "requirement_pages", "spec_pages"]

# Where the copies live below docs/.
SPEC_DIR = "spec"

# The anchor `spec render` writes before every rendered requirement.
_ANCHOR = re.compile(r'<a id="(rws-[a-z]+-[0-9]+)"></a>')


# A rendered requirement's bold ID right after its anchor; on the site it links to the
# requirement's row of the index (its checks and the reference server's verdict).
_ID_AT_ANCHOR = re.compile(r'(<a id="rws-[a-z]+-[0-9]+"></a>)\*\*(RWS-[A-Z]+-[0-9]+)\*\*')


def _link_to_index(match: re.Match[str]) -> str:
    anchor, requirement_id = match.group(1), match.group(2)
    return (
        f"{anchor}[**{requirement_id}**](../requirements.md#{requirement_id.lower()} "
        '"Checks and the reference server\'s verdict")'
    )


def spec_pages(root: Path) -> dict[str, str]:
    """docs-relative path -> page text, for every Markdown page of ``spec/``."""
    pages: dict[str, str] = {}
    for source in sorted((root / "spec").glob("*.md")):
        text = _ID_AT_ANCHOR.sub(_link_to_index, source.read_text(encoding="utf-8"))
        pages[f"{SPEC_DIR}/{source.name}"] = banner(f"spec/{source.name}") + "\n" + text
    return pages


def requirement_pages(root: Path) -> dict[str, str]:
    """Requirement ID -> the docs-relative spec page that renders it (by its anchor)."""
    found: dict[str, str] = {}
    for source in sorted((root / "spec").glob("*.md")):
        for anchor in _ANCHOR.findall(source.read_text(encoding="utf-8")):
            found.setdefault(anchor.upper(), f"{SPEC_DIR}/{source.name}")
    return found

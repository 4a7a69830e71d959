"""Search entries of their own for the rows implementers look up: requirements, checks and
error codes.

The site's search (Material for MkDocs, lunr) indexes a page by its headings: a requirement
ID typed in search matched the whole table section it sits in (and every page citing it),
so the row itself never came first. Each anchored table row — a requirement of the
requirement index (``#rws-cache-4``), a check of the catalogue (``#check-cache-...``), an
error code of the errors page (``#previous_response_not_found``) — becomes one more search
entry whose title is the identifier. Search weighs a title 1000 times the text, so the
row's own entry comes first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RowEntry", "add_entries", "anchor_code_rows", "row_entries"]

_ROW = re.compile(r"<tr\b(?P<attrs>[^>]*)>(?P<body>.*?)</tr>", re.DOTALL)
_CELL = re.compile(r"<t[dh]\b[^>]*>(?P<body>.*?)</t[dh]>", re.DOTALL)
_ID = re.compile(r'\bid="(?P<id>[^"]+)"')
_NAME = re.compile(r"<(?P<tag>strong|code)>(?P<text>.*?)</(?P=tag)>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
# Which row anchors get an entry: requirement IDs and check ids (the generated pages' own
# anchors), besides the error codes that anchor_code_rows adds.
_WANTED = re.compile(r"rws-[a-z]+-\d+|check-.+")


@dataclass(frozen=True)
class RowEntry:
    """One search entry: a table row's anchor, its identifier and its text."""

    anchor: str
    title: str
    text: str

    def document(self, page_url: str) -> dict[str, Any]:
        """The entry as Material's search index lists it."""
        return {"location": f"{page_url}#{self.anchor}", "title": self.title, "text": self.text}


def _plain(fragment: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()


def anchor_code_rows(page_html: str, codes: Iterable[str]) -> str:
    """Give every table row whose first cell is one of ``codes`` (``<code>name</code>``) the
    anchor ``id="name"``, so that search and links can point at that row."""
    wanted = frozenset(codes)

    def anchored(row: re.Match[str]) -> str:
        attrs, body = row.group("attrs"), row.group("body")
        first = _CELL.search(body)
        if first is None or _ID.search(attrs):
            return row.group(0)
        name = _plain(first.group("body"))
        if name not in wanted or first.group("body").strip() != f"<code>{name}</code>":
            return row.group(0)
        return f'<tr{attrs} id="{name}">{body}</tr>'

    return _ROW.sub(anchored, page_html)


def row_entries(page_html: str, codes: Iterable[str] = ()) -> list[RowEntry]:
    """The anchored rows of a page's tables (an ``id`` on the row or in its first cell),
    titled by the identifier the first cell shows in bold or as code.

    Rows anchored by a requirement ID, a check id or one of ``codes`` count.
    """
    known = frozenset(codes)
    entries: list[RowEntry] = []
    seen: set[str] = set()
    for row in _ROW.finditer(page_html):
        first = _CELL.search(row.group("body"))
        if first is None:
            continue
        found = _ID.search(row.group("attrs")) or _ID.search(first.group("body"))
        if found is None or not (
            _WANTED.fullmatch(found.group("id")) or found.group("id") in known
        ):
            continue
        anchor = found.group("id")
        named = _NAME.search(first.group("body"))
        title = _plain(named.group("text")) if named else anchor
        if anchor in seen or not title:
            continue
        seen.add(anchor)
        entries.append(RowEntry(anchor, title, _plain(row.group("body"))))
    return entries


def add_entries(
    index: Mapping[str, Any], entries: Mapping[str, Sequence[RowEntry]]
) -> dict[str, Any]:
    """The search index with each page's row entries after that page's own entries.

    ``entries``: page URL (``requirements/``) -> its rows. Material maps an entry to its page
    by the part of ``location`` before ``#``, and expects a page's entries after the page.
    """
    docs: list[dict[str, Any]] = list(index.get("docs", []))
    out: list[dict[str, Any]] = []
    pending = {url: list(rows) for url, rows in entries.items() if rows}
    for position, doc in enumerate(docs):
        out.append(doc)
        page = str(doc.get("location", "")).split("#", 1)[0]
        following = docs[position + 1] if position + 1 < len(docs) else None
        next_page = str(following.get("location", "")).split("#", 1)[0] if following else None
        if page in pending and next_page != page:
            out.extend(row.document(page) for row in pending.pop(page))
    return {**index, "docs": out}

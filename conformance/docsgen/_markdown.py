"""Small Markdown helpers shared by the page generators of :mod:`conformance.docsgen`.

Generated pages are plain Markdown for MkDocs (Python-Markdown with ``tables``,
``attr_list`` and ``pymdownx.superfences``); these helpers keep the escaping rules in one
place so that a ``|`` in a schema description cannot break a table row.
"""

from __future__ import annotations

import html
import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "banner",
    "breakable_code",
    "cell",
    "code",
    "json_block",
    "relative_link",
    "table",
]


def banner(source: str) -> str:
    """The first line of every generated page: where it comes from and how to refresh it."""
    return (
        f"<!-- Generated from {source} by 'responses-ws docs generate'. "
        "Do not edit: change the source and run 'make docs-generate'. -->\n"
    )


def cell(text: str) -> str:
    """Text made safe for one table cell: no line breaks, no bare pipes."""
    return " ".join(text.split()).replace("|", "\\|")


def code(text: str) -> str:
    """An inline code span that survives backticks inside ``text``."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def breakable_code(text: str) -> str:
    """Inline code for a long dotted path (``response.output[{output_index}].text``) that may
    wrap after a dot or a closing bracket, never inside a name."""
    escaped = html.escape(text)
    for mark in (".", "]"):
        escaped = escaped.replace(mark, mark + "<wbr>")
    return f"<code>{escaped}</code>"


def json_block(value: Any) -> str:
    """A fenced JSON block, indented two spaces, keys in the source order."""
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```\n"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells are escaped with :func:`cell`."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def relative_link(from_page: str, to_page: str, anchor: str = "") -> str:
    """The relative link from one page under docs/ to another (both POSIX paths)."""
    start = posixpath.dirname(from_page) or "."
    target = posixpath.relpath(to_page, start)
    return f"{target}#{anchor}" if anchor else target

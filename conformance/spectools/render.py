"""Render the requirement registry and the error registry into the spec pages.

A page holds a marker where a requirement belongs::

    <!-- req: RWS-CACHE-4 -->

``responses-ws spec render`` puts the rendered requirement after the marker and closes the
block with ``<!-- /req -->``; rendering again replaces the block, so it is idempotent. A
generated table works the same way with ``<!-- table: NAME -->`` ... ``<!-- /table -->``
(names: see :data:`TABLES`). Requirement text is authored once, in
``spec/requirements.yaml``; pages never hold hand-kept copies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.requirements import Requirement, load_requirements
from conformance.spectools.bcp14 import bold_keywords

__all__ = [
    "REQ_END",
    "TABLES",
    "TABLE_END",
    "Marker",
    "anchor",
    "find_markers",
    "render_pages",
    "render_requirement",
    "render_text",
    "spec_pages",
    "write_pages",
]

REQ_START = re.compile(r"^<!-- req: (?P<name>\S+) -->\s*$")
REQ_END = "<!-- /req -->"
TABLE_START = re.compile(r"^<!-- table: (?P<name>\S+) -->\s*$")
TABLE_END = "<!-- /table -->"


@dataclass(frozen=True)
class Marker:
    """A ``req`` or ``table`` marker of a page (line is 1-based)."""

    kind: str
    name: str
    line: int


def anchor(requirement_id: str) -> str:
    """Return the HTML anchor of a requirement (``RWS-CACHE-4`` -> ``rws-cache-4``)."""
    return requirement_id.lower()


def spec_pages(spec_root: Path) -> list[Path]:
    """Return the Markdown pages of the specification, in a stable order."""
    return sorted(spec_root.rglob("*.md"))


def find_markers(text: str) -> list[Marker]:
    """Return every requirement and table marker of a page, in page order."""
    markers: list[Marker] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if match := REQ_START.match(line.strip()):
            markers.append(Marker("req", match.group("name"), number))
        elif match := TABLE_START.match(line.strip()):
            markers.append(Marker("table", match.group("name"), number))
    return markers


_ID_MENTION = re.compile(r"\bRWS-[A-Z]+-[0-9]+\b")


def render_requirement(
    requirement: Requirement, pages: Mapping[str, str] | None = None
) -> list[str]:
    """Return the lines of one rendered requirement (without its markers).

    ``pages`` maps requirement IDs to the page that places them; IDs the text cites are
    then rendered as links.
    """
    label = f"{requirement.level} · {requirement.role} · {requirement.profile}"
    head = f'<a id="{anchor(requirement.id)}"></a>**{requirement.id}**'
    text = bold_keywords(requirement.text)
    if pages:
        text = _ID_MENTION.sub(lambda match: _link(match.group(0), pages), text)
    if requirement.status == "withdrawn":
        return ["", f"{head} (withdrawn) — ~~{text}~~", ""]
    return ["", f"{head} ({label}) — {text}", ""]


def render_text(
    text: str,
    requirements: Mapping[str, Requirement],
    tables: Mapping[str, Callable[[], list[str]]],
    pages: Mapping[str, str] | None = None,
) -> str:
    """Render every marker of one page; unknown names leave the marker with no block.

    ``pages`` (requirement ID -> page) turns IDs cited in requirement texts into links.
    """
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    in_fence = False
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        req = REQ_START.match(line.strip())
        table = TABLE_START.match(line.strip())
        if not req and not table:
            continue
        end = REQ_END if req else TABLE_END
        # A previously rendered block runs to the first end marker, provided no other
        # start marker comes first (otherwise this marker was never rendered).
        stop = index
        while stop < len(lines):
            candidate = lines[stop].strip()
            if candidate == end or REQ_START.match(candidate) or TABLE_START.match(candidate):
                break
            stop += 1
        if stop < len(lines) and lines[stop].strip() == end:
            index = stop + 1
        body: list[str] | None = None
        if req and req.group("name") in requirements:
            body = render_requirement(requirements[req.group("name")], pages)
        elif table and table.group("name") in tables:
            body = ["", *tables[table.group("name")](), ""]
        if body is not None:
            out.extend([*body, end])
    trailing = "\n" if text.endswith("\n") or not text else ""
    return "\n".join(out) + trailing


# --- generated tables ---------------------------------------------------------------


def _cell(value: object) -> str:
    text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: object) -> str:
    return "—" if value is None else f"`{value}`"


def _link(requirement_id: str, pages: Mapping[str, str]) -> str:
    page = pages.get(requirement_id)
    if page is None:
        return requirement_id
    return f"[{requirement_id}]({page}#{anchor(requirement_id)})"


def _evicts_cell(value: object) -> str:
    # RWS-CACHE-5/13: whether the error, answering a continuation, evicts its entry.
    return {True: "yes", False: "no", "may": "may"}.get(value, "—")


def _error_codes(registry: Mapping[str, Any], pages: Mapping[str, str]) -> list[str]:
    lines = [
        "| Code | Status | `error.type` | `param` | Scope | `stream_id` | Connection | Evicts "
        "| Sent when | Requirements |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for code, entry in registry.get("codes", {}).items():
        closes = entry.get("closes")
        connection = f"closed ({entry.get('close_code')})" if closes else "stays open"
        param = entry.get("param")
        # "<the parameter>" is a placeholder, not a name: set it in italics (as raw text it
        # would be read as an HTML tag and vanish).
        placeholder = isinstance(param, str) and param.startswith("<") and param.endswith(">")
        param_cell = f"*{_cell(param)[1:-1]}*" if placeholder else None
        requirements = ", ".join(_link(r, pages) for r in entry.get("requirements", []))
        lines.append(
            "| "
            + " | ".join(
                [
                    _code(code),
                    _cell(entry.get("status")),
                    _code(entry.get("type")),
                    param_cell or _code(param),
                    _cell(entry.get("scope")),
                    _cell(entry.get("stream_id")),
                    connection,
                    _evicts_cell(entry.get("evicts")),
                    _cell(entry.get("when")),
                    requirements,
                ]
            )
            + " |"
        )
    return lines


def _close_codes(registry: Mapping[str, Any], pages: Mapping[str, str]) -> list[str]:
    del pages  # close codes cite no requirement of their own
    lines = ["| Code | Name | Sent when | Client reconnects |", "|---|---|---|---|"]
    for code, entry in registry.get("close_codes", {}).items():
        reconnects = "yes" if entry.get("client_reconnects") else "no"
        lines.append(
            f"| {_cell(code)} | {_cell(entry.get('name'))} | {_cell(entry.get('when'))} "
            f"| {reconnects} |"
        )
    return lines


def _steering_codes(registry: Mapping[str, Any], pages: Mapping[str, str]) -> list[str]:
    del pages
    lines = ["| `error.code` | Sent when |", "|---|---|"]
    for code, when in registry.get("steering_codes", {}).items():
        lines.append(f"| {_code(code)} | {_cell(when)} |")
    return lines


def _requirement_index(
    requirements: Mapping[str, Requirement], pages: Mapping[str, str]
) -> list[str]:
    lines = ["| ID | Level | Role | Profile |", "|---|---|---|---|"]
    for requirement in requirements.values():
        level = "withdrawn" if requirement.status == "withdrawn" else requirement.level
        lines.append(
            f"| {_link(requirement.id, pages)} | `{level}` | {requirement.role} "
            f"| `{requirement.profile}` |"
        )
    return lines


# Table name -> renderer (error registry, placement map); the requirement index is special.
TABLES: tuple[str, ...] = ("error-codes", "close-codes", "steering-codes", "requirement-index")


def _load_error_registry(root: Path) -> dict[str, Any]:
    path = root / "schemas" / "rules" / "errors.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _placements(pages: Iterable[Path], spec_root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in pages:
        for marker in find_markers(page.read_text(encoding="utf-8")):
            if marker.kind == "req":
                found.setdefault(marker.name, page.relative_to(spec_root).as_posix())
    return found


def render_pages(root: Path) -> dict[Path, tuple[str, str]]:
    """Return, for every spec page under ``root/spec``, its current and its rendered text."""
    spec_root = root / "spec"
    requirements = load_requirements(spec_root)
    pages = spec_pages(spec_root)
    placed = _placements(pages, spec_root)
    errors = _load_error_registry(root)
    tables: dict[str, Callable[[], list[str]]] = {
        "error-codes": lambda: _error_codes(errors, placed),
        "close-codes": lambda: _close_codes(errors, placed),
        "steering-codes": lambda: _steering_codes(errors, placed),
        "requirement-index": lambda: _requirement_index(requirements, placed),
    }
    result: dict[Path, tuple[str, str]] = {}
    for page in pages:
        current = page.read_text(encoding="utf-8")
        result[page] = (current, render_text(current, requirements, tables, placed))
    return result


def write_pages(root: Path) -> list[Path]:
    """Render every spec page in place; return the pages that changed."""
    changed: list[Path] = []
    for page, (current, rendered) in render_pages(root).items():
        if rendered != current:
            page.write_text(rendered, encoding="utf-8")
            changed.append(page)
    return changed

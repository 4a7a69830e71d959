"""The self-checks behind ``responses-ws spec check``.

Each check takes the data root (the folder that holds ``spec/`` and ``schemas/``) and
returns a :class:`CheckOutcome`: what it counted and every problem it found, with file and
line where it can tell. The checks only read files, so they can run on a deliberately broken
copy of the tree.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from conformance.requirements import (
    ID_PATTERN,
    LEVELS,
    PROFILES,
    ROLES,
    STATUSES,
    load_requirements,
)
from conformance.spectools.bcp14 import keywords, keywords_outside_requirements
from conformance.spectools.render import TABLES, find_markers, render_pages, spec_pages

__all__ = [
    "CHECKS",
    "SCHEMA_DIALECT",
    "CheckOutcome",
    "Problem",
    "check_errors",
    "check_examples",
    "check_keywords",
    "check_links",
    "check_placement",
    "check_registry",
    "check_rendered",
    "check_rules",
    "check_schemas",
    "run_checks",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "https://responses-ws.org/schemas/draft/"
# Any requirement ID written anywhere (prose, rule tables, texts).
ID_MENTION = re.compile(r"\bRWS-[A-Z]+-[0-9]+\b")
# Rule tables may name these pseudo-events besides real event types.
PSEUDO_EVENTS = frozenset({"terminal", "*"})


@dataclass(frozen=True)
class Problem:
    """One failure: the file (relative to the data root), its 1-based line, and what is wrong."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check: ``count`` things of kind ``noun`` looked at."""

    name: str
    count: int
    noun: str
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the check found nothing wrong."""
        return not self.problems

    def summary(self) -> str:
        """One line: status, name, count."""
        status = "ok  " if self.ok else "FAIL"
        extra = f", {len(self.problems)} problem(s)" if self.problems else ""
        return f"{status} {self.name}: {self.count} {self.noun}{extra}"


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _line_of(text: str, needle: str, start: int = 1) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= start and needle in line:
            return number
    return None


def _registry_file(root: Path) -> Path:
    return root / "spec" / "requirements.yaml"


def _known_ids(root: Path) -> dict[str, None]:
    # Registry order, so that problems come out in the order of the registry.
    try:
        return dict.fromkeys(load_requirements(root / "spec"))
    except (OSError, yaml.YAMLError):
        return {}


# --- requirement registry ---------------------------------------------------------------


def check_registry(root: Path) -> CheckOutcome:
    """IDs unique and well-formed; level, role, profile from their sets; one key word per
    text, matching the level; IDs a text mentions exist."""
    path = _registry_file(root)
    rel = _rel(root, path)
    try:
        source = path.read_text(encoding="utf-8")
        data = yaml.safe_load(source)
    except (OSError, yaml.YAMLError) as exc:
        return CheckOutcome("registry", 0, "requirements", (Problem(rel, None, str(exc)),))
    entries = data.get("requirements") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        problem = Problem(rel, None, "no `requirements` list")
        return CheckOutcome("registry", 0, "requirements", (problem,))
    id_lines = [
        (number, match.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (match := re.match(r"^\s*-\s+id:\s*(\S+)\s*$", line))
    ]
    problems: list[Problem] = []
    seen: dict[str, int | None] = {}
    all_ids = {str(entry.get("id")) for entry in entries if isinstance(entry, dict)}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            problems.append(Problem(rel, None, f"entry {position + 1} has no id"))
            continue
        rid = str(entry["id"])
        line = id_lines[position][0] if position < len(id_lines) else _line_of(source, rid)
        if rid in seen:
            problems.append(Problem(rel, line, f"duplicate id {rid} (first at line {seen[rid]})"))
        else:
            seen[rid] = line
        if not ID_PATTERN.match(rid):
            problems.append(Problem(rel, line, f"malformed id {rid!r} (RWS-<AREA>-<n>)"))
        for key, allowed in (("level", LEVELS), ("role", ROLES), ("profile", PROFILES)):
            if entry.get(key) not in allowed:
                message = f"{rid}: {key} {entry.get(key)!r} is not one of {', '.join(allowed)}"
                problems.append(Problem(rel, line, message))
        if entry.get("status", "active") not in STATUSES:
            problems.append(Problem(rel, line, f"{rid}: status {entry.get('status')!r}"))
        text = " ".join(str(entry.get("text", "")).split())
        found = keywords(text)
        if len(found) != 1:
            message = f"{rid}: text has {len(found)} BCP 14 key words {found}; it needs exactly one"
            problems.append(Problem(rel, line, message))
        elif found[0] != entry.get("level"):
            message = f"{rid}: text uses {found[0]} but the level is {entry.get('level')}"
            problems.append(Problem(rel, line, message))
        for mentioned in ID_MENTION.findall(text):
            if mentioned not in all_ids:
                problems.append(Problem(rel, line, f"{rid}: text cites unknown id {mentioned}"))
    return CheckOutcome("registry", len(entries), "requirements", tuple(problems))


# --- spec pages -------------------------------------------------------------------------


def check_keywords(root: Path) -> CheckOutcome:
    """Every BCP 14 key word of a spec page is inside a rendered requirement block."""
    problems: list[Problem] = []
    pages = spec_pages(root / "spec")
    for page in pages:
        for hit in keywords_outside_requirements(page.read_text(encoding="utf-8")):
            message = f"BCP 14 key word {hit.keyword} outside a requirement block"
            problems.append(Problem(_rel(root, page), hit.line, message))
    return CheckOutcome("keywords", len(pages), "pages", tuple(problems))


def check_placement(root: Path) -> CheckOutcome:
    """Every registry ID has exactly one marker; markers and prose name only known IDs and
    known tables."""
    known = _known_ids(root)
    problems: list[Problem] = []
    places: dict[str, list[tuple[str, int]]] = {}
    for page in spec_pages(root / "spec"):
        text = page.read_text(encoding="utf-8")
        rel = _rel(root, page)
        for marker in find_markers(text):
            if marker.kind == "table":
                if marker.name not in TABLES:
                    message = f"unknown table {marker.name!r} (known: {', '.join(TABLES)})"
                    problems.append(Problem(rel, marker.line, message))
                continue
            places.setdefault(marker.name, []).append((rel, marker.line))
            if marker.name not in known:
                problems.append(Problem(rel, marker.line, f"marker names unknown id {marker.name}"))
        for number, line in enumerate(text.splitlines(), start=1):
            for mentioned in ID_MENTION.findall(line):
                if mentioned not in known:
                    problems.append(Problem(rel, number, f"page cites unknown id {mentioned}"))
    registry = _rel(root, _registry_file(root))
    for rid in known:
        where = places.get(rid, [])
        if not where:
            problems.append(Problem(registry, None, f"{rid} is placed on no spec page"))
        elif len(where) > 1:
            listed = ", ".join(f"{path}:{line}" for path, line in where)
            problems.append(Problem(where[1][0], where[1][1], f"{rid} placed twice ({listed})"))
    # Unknown-ID mentions inside a marker line are reported once, as a marker problem.
    unique = tuple(dict.fromkeys(problems))
    return CheckOutcome("placement", len(known), "requirement ids", unique)


def check_rendered(root: Path) -> CheckOutcome:
    """Every spec page equals its re-rendering (run ``responses-ws spec render``)."""
    try:
        rendered = render_pages(root)
    except (OSError, yaml.YAMLError) as exc:
        problem = Problem(_rel(root, _registry_file(root)), None, str(exc))
        return CheckOutcome("rendered", 0, "pages", (problem,))
    problems: list[Problem] = []
    for page, (current, fresh) in rendered.items():
        if current != fresh:
            old, new = current.splitlines(), fresh.splitlines()
            line = next(
                (n for n, (a, b) in enumerate(zip(old, new, strict=False), start=1) if a != b),
                min(len(old), len(new)) + 1,
            )
            message = "stale rendering; run `responses-ws spec render`"
            problems.append(Problem(_rel(root, page), line, message))
    return CheckOutcome("rendered", len(rendered), "pages", tuple(problems))


_LINK = re.compile(r"\]\((?P<page>[^)#\s:]*\.md)?(?:#(?P<anchor>[^)\s]+))?\)")
_ANCHOR = re.compile(r"\{#(?P<attr>[A-Za-z0-9_.-]+)\}|<a id=\"(?P<html>[^\"]+)\"")


def check_links(root: Path) -> CheckOutcome:
    """Every relative link between spec pages names an existing page and anchor."""
    spec_root = root / "spec"
    pages = spec_pages(spec_root)
    texts = {page: page.read_text(encoding="utf-8") for page in pages}
    anchors = {
        page: {m.group("attr") or m.group("html") for m in _ANCHOR.finditer(text)}
        for page, text in texts.items()
    }
    problems: list[Problem] = []
    count = 0
    for page, text in texts.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for link in _LINK.finditer(line):
                if link.group("page") is None and link.group("anchor") is None:
                    continue
                count += 1
                target = (page.parent / link.group("page")) if link.group("page") else page
                target = target.resolve()
                found = next((p for p in pages if p.resolve() == target), None)
                if found is None:
                    message = f"link to missing page {link.group('page')}"
                    problems.append(Problem(_rel(root, page), number, message))
                elif link.group("anchor") and link.group("anchor") not in anchors[found]:
                    message = f"link to missing anchor {_rel(root, found)}#{link.group('anchor')}"
                    problems.append(Problem(_rel(root, page), number, message))
    return CheckOutcome("links", count, "links", tuple(problems))


# --- schemas and examples -----------------------------------------------------------------


def _schema_files(schemas: Path) -> list[Path]:
    skip = {"examples", "rules"}
    return sorted(
        path
        for path in schemas.rglob("*.json")
        if not skip.intersection(path.relative_to(schemas).parts[:1])
    )


def check_schemas(root: Path) -> CheckOutcome:
    """Every schema under ``schemas/`` (but examples and rule tables) is a valid 2020-12
    schema with the project's ``$schema`` and ``$id``."""
    schemas = root / "schemas"
    files = _schema_files(schemas)
    problems: list[Problem] = []
    for path in files:
        rel = _rel(root, path)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(Problem(rel, getattr(exc, "lineno", None), f"not JSON: {exc}"))
            continue
        if not isinstance(schema, dict):
            problems.append(Problem(rel, 1, "a schema must be a JSON object"))
            continue
        if schema.get("$schema") != SCHEMA_DIALECT:
            problems.append(Problem(rel, 1, f"$schema is {schema.get('$schema')!r}"))
        expected_id = SCHEMA_ID_BASE + path.relative_to(schemas).as_posix()
        if schema.get("$id") != expected_id:
            message = f"$id is {schema.get('$id')!r}, expected {expected_id!r}"
            problems.append(Problem(rel, 1, message))
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            path_text = "/".join(str(part) for part in exc.path)
            problems.append(Problem(rel, None, f"invalid schema at /{path_text}: {exc.message}"))
    return CheckOutcome("schemas", len(files), "schemas (2020-12)", tuple(problems))


def _event_types(schemas: Path) -> set[str]:
    # The documented layout: one schema per event type, file name = the type.
    return {path.stem for path in (schemas / "events").glob("*/*.json")}


def check_examples(root: Path) -> CheckOutcome:
    """Every valid example validates against its event's schema and every invalid one fails;
    example folders name event types that have a schema."""
    schemas = root / "schemas"
    problems: list[Problem] = []
    examples_dir = schemas / "examples"
    known = _event_types(schemas)
    if examples_dir.is_dir():
        for folder in sorted(p for p in examples_dir.iterdir() if p.is_dir()):
            if folder.name not in known:
                message = f"example folder {folder.name!r} names no event type with a schema"
                problems.append(Problem(_rel(root, folder), None, message))
            for path in sorted(folder.iterdir()):
                if not path.name.startswith(("valid-", "invalid-")) or path.suffix != ".json":
                    message = "example files are named valid-*.json or invalid-*.json"
                    problems.append(Problem(_rel(root, path), None, message))
    try:
        module = importlib.import_module("conformance.schemas")
        schema_set = module.SchemaSet(schemas)
        examples = list(schema_set.examples())
    except Exception as exc:  # the loader is another module; report, do not crash
        problem = Problem("schemas", None, f"cannot load schemas: {type(exc).__name__}: {exc}")
        return CheckOutcome("examples", 0, "examples", (*problems, problem))
    for example in examples:
        rel = _rel(root, Path(example.path))
        if example.event_type not in known:
            continue  # reported above, per folder
        try:
            errors = list(schema_set.validator(example.event_type).iter_errors(example.instance))
        except Exception as exc:  # an unresolvable $ref and the like
            problems.append(Problem(rel, None, f"cannot validate: {type(exc).__name__}: {exc}"))
            continue
        if example.valid and errors:
            first = errors[0]
            where = "/" + "/".join(str(part) for part in first.absolute_path)
            message = f"valid example fails its schema at {where}: {first.message}"
            problems.append(Problem(rel, None, message))
        elif not example.valid and not errors:
            problems.append(Problem(rel, None, "invalid example validates against its schema"))
    return CheckOutcome("examples", len(examples), "examples", tuple(problems))


# --- rule tables ----------------------------------------------------------------------------


def _event_references(node: Any, under_event_key: bool = False) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _event_references(value, key in ("event", "events"))
    elif isinstance(node, list):
        for item in node:
            if under_event_key and isinstance(item, str):
                yield item
            else:
                yield from _event_references(item, False)
    elif isinstance(node, str) and under_event_key:
        yield node


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def check_rules(root: Path) -> CheckOutcome:
    """Rule tables name only event types that have a schema (or ``terminal``/``*``) and only
    requirement IDs of the registry."""
    schemas = root / "schemas"
    known_events = _event_types(schemas) | PSEUDO_EVENTS
    known_ids = _known_ids(root)
    files = sorted((schemas / "rules").glob("*.json"))
    problems: list[Problem] = []
    for path in files:
        rel = _rel(root, path)
        source = path.read_text(encoding="utf-8")
        try:
            data = json.loads(source)
        except ValueError as exc:
            problems.append(Problem(rel, getattr(exc, "lineno", None), f"not JSON: {exc}"))
            continue
        for event in dict.fromkeys(_event_references(data)):
            if event not in known_events:
                line = _line_of(source, json.dumps(event))
                problems.append(Problem(rel, line, f"unknown event type {event!r}"))
        mentioned = {m for s in _strings(data) for m in ID_MENTION.findall(s)}
        for rid in sorted(mentioned - known_ids.keys()):
            problems.append(Problem(rel, _line_of(source, rid), f"unknown requirement id {rid}"))
    return CheckOutcome("rules", len(files), "rule tables", tuple(problems))


def check_errors(root: Path) -> CheckOutcome:
    """Every error code of ``errors.json`` is complete and cites existing requirement IDs."""
    path = root / "schemas" / "rules" / "errors.json"
    rel = _rel(root, path)
    try:
        source = path.read_text(encoding="utf-8")
        data = json.loads(source)
    except (OSError, ValueError) as exc:
        return CheckOutcome("errors", 0, "error codes", (Problem(rel, None, str(exc)),))
    known_ids = _known_ids(root)
    codes = data.get("codes", {}) if isinstance(data, dict) else {}
    close_codes = data.get("close_codes", {}) if isinstance(data, dict) else {}
    problems: list[Problem] = []
    for code, entry in codes.items():
        line = _line_of(source, json.dumps(code))
        cited = entry.get("requirements") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not cited:
            problems.append(Problem(rel, line, f"{code}: cites no requirement"))
            continue
        for rid in cited:
            if rid not in known_ids:
                problems.append(Problem(rel, line, f"{code}: cites unknown requirement {rid}"))
        status = entry.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            problems.append(Problem(rel, line, f"{code}: status {status!r} is not 4xx/5xx"))
        if entry.get("scope") not in ("request", "frame", "connection"):
            problems.append(Problem(rel, line, f"{code}: scope {entry.get('scope')!r}"))
        if entry.get("stream_id") not in ("lane", "rejected", "never"):
            problems.append(Problem(rel, line, f"{code}: stream_id {entry.get('stream_id')!r}"))
        if entry.get("closes") and str(entry.get("close_code")) not in close_codes:
            message = f"{code}: close_code {entry.get('close_code')!r} is not in close_codes"
            problems.append(Problem(rel, line, message))
    return CheckOutcome("errors", len(codes), "error codes", tuple(problems))


CHECKS: tuple[tuple[str, Callable[[Path], CheckOutcome]], ...] = (
    ("schemas", check_schemas),
    ("examples", check_examples),
    ("registry", check_registry),
    ("keywords", check_keywords),
    ("placement", check_placement),
    ("links", check_links),
    ("rules", check_rules),
    ("errors", check_errors),
    ("rendered", check_rendered),
)


def run_checks(root: Path, names: Sequence[str] | None = None) -> list[CheckOutcome]:
    """Run the named checks (default: all, in :data:`CHECKS` order) on the data root."""
    return [check(root) for name, check in CHECKS if names is None or name in names]

"""The schema reference: one page per event type and one per shared definition file.

Every page is generated from ``schemas/``: the event's schema gives the field table (name,
type, required, constraints, description), ``schemas/examples/<type>/`` gives the valid and
invalid examples (each invalid one with the reason the schema rejects it, computed by
validating it now, so the page cannot claim a reason the schema does not give), the
requirement registry and the spec pages give the cross references, and
``schemas/rules/ordering.json`` says where the event may appear in a run.

Types are written the way an implementer reads them: ``string or null``, ``array of
[Output item](...)``, ``"response.created"`` for a constant. A ``$ref`` to a scalar
definition (``sequence_number``) is inlined with its constraints; a ``$ref`` to an object
links to that definition's page.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.docsgen._markdown import banner, code, json_block, relative_link, table
from conformance.docsgen.site_build import archive_path, schema_site_prefix, spec_version
from conformance.requirements import Requirement
from conformance.schemas import SCHEMA_BASE_URI, SchemaSet

__all__ = ["REFERENCE_DIR", "SchemaReference", "event_page", "reference_pages"]

REFERENCE_DIR = "reference"
REQUIREMENTS_PAGE = "requirements.md"
ORDERING_PAGE = "diagrams/ordering.md"
# Inline objects are expanded into dotted rows down to this depth; deeper ones say "object".
_MAX_DEPTH = 3


def event_page(event_type: str) -> str:
    """The docs-relative page of an event type."""
    return f"{REFERENCE_DIR}/events/{event_type}.md"


def _def_page(schema_rel: str) -> str:
    """``defs/items/message.json`` -> ``reference/defs/items/message.md``."""
    return f"{REFERENCE_DIR}/{schema_rel.removesuffix('.json')}.md"


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class _Target:
    """What a ``$ref`` points at."""

    rel: str  # schema file, relative to schemas/
    name: str  # the $defs entry, or "" for the whole file
    node: Mapping[str, Any]

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        title = self.node.get("title")
        return str(title) if title else self.rel


def _is_scalar(node: Mapping[str, Any]) -> bool:
    """A definition simple enough to inline (no members, no alternatives)."""
    if any(k in node for k in ("properties", "allOf", "anyOf", "oneOf", "$ref", "items")):
        return False
    kind = node.get("type")
    return kind is None or (kind != "object" and not isinstance(kind, list)) or "enum" in node


class SchemaReference:
    """Builds every reference page from one ``schemas/`` folder."""

    def __init__(
        self,
        root: Path,
        requirements: Mapping[str, Requirement],
        spec_mentions: Mapping[str, Sequence[str]],
    ) -> None:
        self.root = root
        self.schemas_dir = root / "schemas"
        self.schema_set = SchemaSet(self.schemas_dir)
        self.requirements = requirements
        # event type -> spec pages (docs-relative) that mention it in backticks
        self.spec_mentions = spec_mentions
        self._docs: dict[str, dict[str, Any]] = {}
        # definition file -> event types whose schema refers to it directly
        self.used_by: dict[str, set[str]] = defaultdict(set)
        ordering_path = self.schemas_dir / "rules" / "ordering.json"
        self.ordering: dict[str, Any] = json.loads(ordering_path.read_text(encoding="utf-8"))

    # -- loading and references -------------------------------------------------------------

    def doc(self, rel: str) -> dict[str, Any]:
        """The schema file ``rel`` (relative to schemas/), parsed once."""
        if rel not in self._docs:
            path = self.schemas_dir / rel
            self._docs[rel] = json.loads(path.read_text(encoding="utf-8"))
        return self._docs[rel]

    def event_rel(self, event_type: str) -> str:
        direction = self.schema_set.direction_of(event_type)
        return f"events/{direction}/{event_type}.json"

    def resolve(self, base_rel: str, ref: str) -> _Target:
        """Resolve a relative ``$ref`` found in the file ``base_rel``."""
        file_part, _, fragment = ref.partition("#")
        rel = (
            posixpath.normpath(posixpath.join(posixpath.dirname(base_rel), file_part))
            if file_part
            else base_rel
        )
        node: Mapping[str, Any] = self.doc(rel)
        name = ""
        for part in [p for p in fragment.split("/") if p]:
            node = node[part]
            name = part
        return _Target(rel=rel, name=name, node=node)

    def link(self, page: str, target: _Target) -> str:
        if target.rel.startswith("events/"):
            # A definition local to an event schema lives on that event's page.
            home = event_page(posixpath.basename(target.rel).removesuffix(".json"))
        else:
            home = _def_page(target.rel)
        return f"[{target.label}]({relative_link(page, home, target.name)})"

    # -- types and constraints --------------------------------------------------------------

    def type_of(self, node: Mapping[str, Any], base_rel: str, page: str) -> str:
        """A node's type as inline Markdown (never contains a bare ``|``)."""
        if "$ref" in node:
            target = self.resolve(base_rel, str(node["$ref"]))
            if _is_scalar(target.node):
                inner = self.type_of(target.node, target.rel, page)
                return f"{inner} ({self.link(page, target)})"
            return self.link(page, target)
        if node.get("not") == {}:
            return "never present"
        if "const" in node:
            return code(_fmt(node["const"]))
        if "enum" in node:
            return "one of " + ", ".join(code(_fmt(v)) for v in node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                alternatives: list[str] = []
                for alt in node[key]:
                    text = self.type_of(alt, base_rel, page)
                    if text not in alternatives:
                        alternatives.append(text)
                return " or ".join(alternatives)
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind] if kind else []
        words: list[str] = []
        for k in kinds:
            if k == "array" and isinstance(node.get("items"), Mapping):
                words.append("array of " + self.type_of(node["items"], base_rel, page))
            else:
                words.append(str(k))
        if not words:
            if "properties" in node:
                return "object"
            if "allOf" in node:
                return "object (by `type`)"
            return "any"
        return " or ".join(words)

    def constraints(self, node: Mapping[str, Any], base_rel: str, page: str) -> list[str]:
        """Constraints of a node (and of an inlined scalar definition) in words."""
        found: list[str] = []
        if "$ref" in node:
            target = self.resolve(base_rel, str(node["$ref"]))
            if _is_scalar(target.node):
                found.extend(self.constraints(target.node, target.rel, page))
        for key, word in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        ):
            if key in node:
                found.append(f"{word} {node[key]}")
        found.extend(_bounds(node, "minLength", "maxLength", "length"))
        found.extend(_bounds(node, "minItems", "maxItems", "items"))
        if "maxProperties" in node:
            found.append(f"at most {node['maxProperties']} members")
        if "pattern" in node:
            found.append(f"matches {code(str(node['pattern']))}")
        negated = node.get("not")
        if isinstance(negated, Mapping) and "pattern" in negated:
            found.append(f"no character matching {code(str(negated['pattern']))}")
        names = node.get("propertyNames")
        if isinstance(names, Mapping) and "maxLength" in names:
            found.append(f"member names ≤ {names['maxLength']} characters")
        extra = node.get("additionalProperties")
        if extra is False:
            found.append("no other members")
        elif isinstance(extra, Mapping) and extra:
            values = [self.type_of(extra, base_rel, page), *self.constraints(extra, base_rel, page)]
            found.append("other members: " + ", ".join(v for v in values if v))
        if "format" in node:
            found.append(f"format {node['format']}")
        return found

    def description(self, node: Mapping[str, Any], base_rel: str) -> str:
        text = node.get("description")
        if not text and "$ref" in node:
            target = self.resolve(base_rel, str(node["$ref"]))
            text = target.node.get("description")
        return str(text or "")

    def rows(
        self, node: Mapping[str, Any], base_rel: str, page: str, prefix: str = "", depth: int = 0
    ) -> list[list[str]]:
        """Field rows of an object schema; inline sub-objects become ``a.b`` rows."""
        required = set(node.get("required", []))
        result: list[list[str]] = []
        for name, prop in node.get("properties", {}).items():
            if not isinstance(prop, Mapping):
                continue
            full = f"{prefix}{name}"
            constraints = self.constraints(prop, base_rel, page)
            result.append(
                [
                    _field_name(full),
                    self.type_of(prop, base_rel, page),
                    "yes" if name in required else "",
                    "; ".join(constraints),
                    _linkify(self.description(prop, base_rel), page),
                ]
            )
            if depth + 1 >= _MAX_DEPTH:
                continue
            if "properties" in prop:
                result.extend(self.rows(prop, base_rel, page, f"{full}.", depth + 1))
            items = prop.get("items")
            if isinstance(items, Mapping) and "properties" in items:
                result.extend(self.rows(items, base_rel, page, f"{full}[].", depth + 1))
        return result

    def _collect_refs(self, node: Any, base_rel: str, into: set[str]) -> None:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = self.resolve(base_rel, ref)
                if target.rel.startswith("defs/"):
                    into.add(target.rel)
            for value in node.values():
                self._collect_refs(value, base_rel, into)
        elif isinstance(node, list):
            for value in node:
                self._collect_refs(value, base_rel, into)

    # -- pages --------------------------------------------------------------------------------

    def _ordering_uses(self, event_type: str) -> list[str]:
        """Where the ordering grammar lets this event happen, one line per machine."""
        lines: list[str] = []
        for machine, spec in self.ordering.get("machines", {}).items():
            moves: list[str] = []
            for transition in spec.get("transitions", []):
                events = transition.get("events") or [transition.get("event")]
                if event_type not in events:
                    continue
                sources = ", ".join(code(s) for s in transition.get("from", []))
                to = transition.get("to")
                moves.append(f"{sources} → {code(to)}" if to else f"in {sources}")
            if moves:
                anchor = f"machine-{machine}"
                link = relative_link(event_page(event_type), ORDERING_PAGE, anchor)
                lines.append(f"- machine [{code(machine)}]({link}): " + "; ".join(moves))
        return lines

    def _requirements_naming(self, event_type: str) -> list[Requirement]:
        pattern = re.compile(r"`" + re.escape(event_type) + r"[`.*]")
        return [
            r
            for r in self.requirements.values()
            if r.status != "withdrawn" and pattern.search(r.text)
        ]

    def event(self, event_type: str) -> str:
        """The page of one event type."""
        rel = self.event_rel(event_type)
        page = event_page(event_type)
        schema = self.doc(rel)
        refs: set[str] = set()
        self._collect_refs(schema, rel, refs)
        for ref in refs:
            self.used_by[ref].add(event_type)

        direction = self.schema_set.direction_of(event_type)
        arrow = "client → server" if direction == "client" else "server → client"
        # The title in front matter: MkDocs would otherwise derive one from the file name.
        out = [f"---\ntitle: {event_type}\n---\n"]
        out.append(banner(f"schemas/{rel} and schemas/examples/{event_type}/"))
        out.append(f"# `{event_type}` {{#{_slug(event_type)}}}\n")
        out.append(_linkify(str(schema.get("description", "")).strip(), page) + "\n")
        out.append(
            f"**Direction:** {arrow} · **Schema:** `schemas/{rel}` · "
            f"[all events]({relative_link(page, f'{REFERENCE_DIR}/index.md')})\n"
        )

        out.append("## Fields\n")
        rows = self.rows(schema, rel, page)
        out.append(
            table(["Field", "Type", "Required", "Constraints", "Description"], rows)
            if rows
            else "This event has no fields besides `type`.\n"
        )
        extra = schema.get("additionalProperties", True)
        out.append(
            "Members not listed here are rejected.\n"
            if extra is False
            else "Members not listed here are allowed; a receiver ignores the ones it does "
            "not know ([RWS-EVENT-3]("
            + relative_link(page, REQUIREMENTS_PAGE, "rws-event-3")
            + ")).\n"
        )

        naming = self._requirements_naming(event_type)
        mentions = self.spec_mentions.get(event_type, ())
        uses = self._ordering_uses(event_type)
        if naming or mentions or uses:
            out.append("## In the specification\n")
            if mentions:
                links = ", ".join(
                    f"[{posixpath.basename(m).removesuffix('.md')}]({relative_link(page, m)})"
                    for m in mentions
                )
                out.append(f"Spec pages that mention it: {links}.\n")
            if naming:
                out.append("Requirements that name it:\n")
                for r in naming:
                    link = relative_link(page, REQUIREMENTS_PAGE, r.id.lower())
                    out.append(f"- [{r.id}]({link}) ({r.level} · {r.role}) — {r.text}")
                out.append("")
            if uses:
                out.append("Where the ordering grammar accepts it:\n")
                out.extend(uses)
                out.append("")

        defs = schema.get("$defs", {})
        if defs:
            out.append("## Definitions\n")
            for name, node in defs.items():
                out.append(f"### {name} {{#{name}}}\n")
                if node.get("description"):
                    out.append(_linkify(str(node["description"]).strip(), page) + "\n")
                out.extend(self._shape(node, rel, page, level=4))

        out.append("## Examples\n")
        valid = [e for e in self._examples(event_type) if e[0]]
        invalid = [e for e in self._examples(event_type) if not e[0]]
        for _, path, instance in valid:
            out.append(f"### Valid: `{path.name}`\n")
            out.append(json_block(instance))
        for _, path, instance in invalid:
            out.append(f"### Invalid: `{path.name}`\n")
            problems = self.schema_set.errors(instance, direction=direction)
            reason = _json_words(str(problems[0])) if problems else "(the schema accepts it)"
            out.append(f"Rejected: {code(reason)}\n")
            out.append(json_block(instance))
        return "\n".join(out)

    def _examples(self, event_type: str) -> list[tuple[bool, Path, Any]]:
        folder = self.schemas_dir / "examples" / event_type
        found: list[tuple[bool, Path, Any]] = []
        for path in sorted(folder.glob("*.json")):
            instance = json.loads(path.read_text(encoding="utf-8"))
            found.append((path.name.startswith("valid-"), path, instance))
        return found

    def definition(self, rel: str) -> str:
        """The page of one shared definition file."""
        page = _def_page(rel)
        schema = self.doc(rel)
        title = str(schema.get("title") or rel)
        out = [banner(f"schemas/{rel}")]
        out.append(f"# {title}\n")
        out.append(_linkify(str(schema.get("description", "")).strip(), page) + "\n")
        out.append(f"**Schema:** `schemas/{rel}`\n")
        users = sorted(self.used_by.get(rel, ()))
        if users:
            links = ", ".join(f"[{code(t)}]({relative_link(page, event_page(t))})" for t in users)
            out.append(f"**Used by:** {links}\n")
        out.extend(self._shape(schema, rel, page, level=2))
        defs = schema.get("$defs", {})
        if defs:
            out.append("## Definitions\n")
            for name, node in defs.items():
                out.append(f"### {name} {{#{name}}}\n")
                if node.get("description"):
                    out.append(_linkify(str(node["description"]).strip(), page) + "\n")
                out.extend(self._shape(node, rel, page, level=4))
        return "\n".join(out)

    def _shape(self, node: Mapping[str, Any], rel: str, page: str, level: int) -> list[str]:
        """Fields, variants and alternatives of one schema node."""
        out: list[str] = []
        hashes = "#" * level
        rows = self.rows(node, rel, page)
        if rows:
            out.append(table(["Field", "Type", "Required", "Constraints", "Description"], rows))
        variants: list[list[str]] = []
        for branch in node.get("allOf", []):
            condition = branch.get("if", {}).get("properties", {}).get("type", {})
            then = branch.get("then")
            if "const" in condition and isinstance(then, Mapping):
                variants.append([code(_fmt(condition["const"])), self.type_of(then, rel, page)])
        if variants:
            out.append(f"{hashes} Variants by `type`\n")
            out.append(table(["`type`", "Schema"], variants))
        for key in ("anyOf", "oneOf"):
            if key in node:
                word = "any" if key == "anyOf" else "exactly one"
                out.append(f"Must match {word} of:\n")
                out.extend(f"- {self.type_of(alt, rel, page)}" for alt in node[key])
                out.append("")
        if not rows and not variants and not any(k in node for k in ("anyOf", "oneOf")):
            kind = self.type_of(node, rel, page)
            limits = "; ".join(self.constraints(node, rel, page))
            out.append(f"Type: {kind}" + (f" ({limits})" if limits else "") + "\n")
        return out

    def index(self, event_types: Sequence[str], def_files: Sequence[str]) -> str:
        """The reference's home: every event type and every definition file."""
        page = f"{REFERENCE_DIR}/index.md"
        out = [banner("schemas/")]
        out.append("# Schema reference\n")
        out.append(
            "One page per event type and per shared definition, generated from the JSON "
            "Schemas (2020-12) under `schemas/`. For the shape of a message the schemas are "
            "authoritative ([which artefact wins](../spec/index.md#authority)). Each event page "
            "lists the fields with their types and constraints, the requirements that name "
            "the event, where the ordering grammar accepts it, and the valid and invalid "
            "examples of `schemas/examples/`, with the reason each invalid one is rejected.\n"
        )
        version = spec_version(self.root)
        prefix = schema_site_prefix()
        example = "events/server/error.json"
        out.append(
            "## Downloading the schemas {#download}\n\n"
            f"Every schema is served at its `$id`, `{SCHEMA_BASE_URI}<path below schemas/>` "
            f"(for instance [`{SCHEMA_BASE_URI}{example}`](../{prefix}/{example})), so that "
            "a validator can fetch what a `$ref` names. All of `schemas/` — the schemas, the "
            "examples and the rule tables — is one download: "
            f"[`{posixpath.basename(archive_path(version))}`](../{archive_path(version)}) "
            f"(specification version `{version.version}`).\n"
        )
        for direction, heading in (("client", "Client events"), ("server", "Server events")):
            chosen = [t for t in event_types if self.schema_set.direction_of(t) == direction]
            out.append(f"## {heading} ({len(chosen)})\n")
            rows = []
            for t in chosen:
                description = str(self.doc(self.event_rel(t)).get("description", ""))
                rows.append(
                    [f"[{code(t)}]({relative_link(page, event_page(t))})", _first(description)]
                )
            out.append(table(["Event", "What it is"], rows))
        out.append(f"## Shared definitions ({len(def_files)})\n")
        rows = []
        for rel in def_files:
            schema = self.doc(rel)
            title = str(schema.get("title") or rel)
            rows.append(
                [
                    f"[{title}]({relative_link(page, _def_page(rel))})",
                    code(f"schemas/{rel}"),
                    _first(str(schema.get("description", ""))),
                ]
            )
        out.append(table(["Definition", "File", "What it is"], rows))
        return "\n".join(out)


def _field_name(name: str) -> str:
    """A field path as code that may wrap after a dot but never inside a name."""
    escaped = html.escape(name).replace(".", ".<wbr>")
    return f"<code>{escaped}</code>"


# jsonschema writes the offending value as Python would (None, True); readers of a JSON
# protocol expect null, true and false.
_PYTHON_LITERAL = re.compile(r"(?<=: )(None|True|False)(?= )")


def _json_words(message: str) -> str:
    """A validation message with the JSON spelling of null and booleans."""
    return _PYTHON_LITERAL.sub(
        lambda m: json.dumps({"None": None, "True": True, "False": False}[m.group(1)]), message
    )


def _bounds(node: Mapping[str, Any], low: str, high: str, what: str) -> list[str]:
    """``length 1-256``, ``length ≥ 1`` or ``items ≤ 4`` (nothing when neither is set)."""
    if low in node and high in node:
        return [f"{what} {node[low]}–{node[high]}"]
    if low in node:
        return [f"{what} ≥ {node[low]}"]
    if high in node:
        return [f"{what} ≤ {node[high]}"]
    return []


_REQUIREMENT_ID = re.compile(r"(?<![\w#/-])(RWS-[A-Z]+-[0-9]+)\b")


def _linkify(text: str, page: str) -> str:
    """Requirement IDs in a schema description become links to the requirement index
    (outside code spans, which keep their text)."""
    pieces = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(pieces), 2):
        pieces[i] = _REQUIREMENT_ID.sub(
            lambda m: (
                f"[{m.group(1)}]({relative_link(page, REQUIREMENTS_PAGE, m.group(1).lower())})"
            ),
            pieces[i],
        )
    return "".join(pieces)


def _first(text: str) -> str:
    """The first sentence of a description."""
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def _slug(event_type: str) -> str:
    return event_type.replace(".", "-").replace("_", "-")


def reference_pages(
    root: Path,
    requirements: Mapping[str, Requirement],
    spec_mentions: Mapping[str, Sequence[str]],
) -> dict[str, str]:
    """docs-relative path -> text of every schema reference page."""
    ref = SchemaReference(root, requirements, spec_mentions)
    types = sorted(ref.schema_set.client_event_types()) + sorted(
        ref.schema_set.server_event_types()
    )
    pages = {event_page(t): ref.event(t) for t in types}
    defs_dir = root / "schemas" / "defs"
    def_files = sorted(p.relative_to(root / "schemas").as_posix() for p in defs_dir.rglob("*.json"))
    for rel in def_files:
        pages[_def_page(rel)] = ref.definition(rel)
    pages[f"{REFERENCE_DIR}/index.md"] = ref.index(types, def_files)
    return pages

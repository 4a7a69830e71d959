"""Load the JSON Schemas under ``schemas/`` and validate events against them.

Every schema file carries an ``$id`` below ``https://responses-ws.org/schemas/draft/`` and refers
to the others with relative ``$ref``s, so one registry of all of them resolves every reference
offline. Two validators are built per event type from that registry:

* a ``jsonschema_rs`` validator for the fast yes/no answer (:meth:`SchemaSet.is_valid`), used on
  every message of a transcript;
* a ``jsonschema.Draft202012Validator`` for readable errors (:meth:`SchemaSet.errors`), used only
  when an event failed.

Events dispatch on their ``type``: each event type has its own schema file
(``events/client/<type>.json`` or ``events/server/<type>.json``), so no big ``oneOf`` is ever
evaluated on the hot path. :class:`SchemaSet` takes the ``schemas/`` folder as an argument so a
deliberately broken copy can be loaded from a temporary folder; the module-level functions use
the project's own folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import jsonschema
import jsonschema.exceptions
import jsonschema_rs
import referencing
import referencing.jsonschema

from conformance import _paths

__all__ = [
    "SCHEMA_BASE_URI",
    "Direction",
    "Example",
    "SchemaError",
    "SchemaSet",
    "client_event_types",
    "default_schema_set",
    "errors",
    "examples",
    "is_valid",
    "registry",
    "schema_for",
    "server_event_types",
    "validator",
]

SCHEMA_BASE_URI = "https://responses-ws.org/schemas/draft/"

Direction = Literal["client", "server"]

# examples/ holds instances, never schemas. rules/ holds registries (error codes, state
# tables); a file there is a schema only if it declares an $id.
_INSTANCES = "examples"
_DATA = "rules"


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One reason an event does not validate, in a form a report can print."""

    message: str
    #: Where in the event, as a JSON path (``$.response.output[0].type``).
    path: str
    #: Which keyword of which schema failed (``properties/response/$ref/required``).
    schema_path: str
    #: The failing keyword (``required``, ``type``, ``const``...).
    keyword: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Example:
    """One example file: ``schemas/examples/<event_type>/valid-*.json`` or ``invalid-*.json``."""

    event_type: str
    valid: bool
    path: Path
    instance: Any


def _json_path(parts: Iterator[str | int] | tuple[str | int, ...] | Any) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _depth(error: jsonschema.exceptions.ValidationError) -> tuple[int, int]:
    return (len(error.absolute_path), len(error.absolute_schema_path))


def _relevance(error: jsonschema.exceptions.ValidationError) -> tuple[int, int]:
    # Deeper errors first (they name the actual offending field), then in schema order.
    return (-len(error.absolute_path), len(error.absolute_schema_path))


class SchemaSet:
    """Every schema below one ``schemas/`` folder, with validators built on demand."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "events").is_dir():
            raise FileNotFoundError(f"{self.root} has no events/ folder")

    # -- loading ----------------------------------------------------------------------------

    @cached_property
    def _documents(self) -> dict[Path, dict[str, Any]]:
        """Every schema document by its path relative to the root."""
        docs: dict[Path, dict[str, Any]] = {}
        for path in sorted(self.root.rglob("*.json")):
            rel = path.relative_to(self.root)
            if rel.parts[0] == _INSTANCES:
                continue
            with path.open(encoding="utf-8") as f:
                doc = json.load(f)
            if rel.parts[0] == _DATA and not (isinstance(doc, dict) and "$id" in doc):
                continue
            if not isinstance(doc, dict):
                raise ValueError(f"{rel}: a schema must be a JSON object")
            expected = SCHEMA_BASE_URI + rel.as_posix()
            if doc.get("$id") != expected:
                raise ValueError(f"{rel}: $id is {doc.get('$id')!r}, expected {expected!r}")
            docs[rel] = doc
        return docs

    def _event_schemas(self, direction: Direction) -> dict[str, dict[str, Any]]:
        folder = Path("events") / direction
        return {rel.stem: doc for rel, doc in self._documents.items() if rel.parent == folder}

    @cached_property
    def _client(self) -> dict[str, dict[str, Any]]:
        return self._event_schemas("client")

    @cached_property
    def _server(self) -> dict[str, dict[str, Any]]:
        return self._event_schemas("server")

    def registry(self) -> referencing.Registry[Any]:
        """A registry of every schema under the root, keyed by ``$id``, crawled."""
        return self._registry

    @cached_property
    def _registry(self) -> referencing.Registry[Any]:
        resources = [
            (doc["$id"], referencing.jsonschema.DRAFT202012.create_resource(doc))
            for doc in self._documents.values()
        ]
        return referencing.Registry().with_resources(resources).crawl()

    @cached_property
    def _rs_registry(self) -> Any:
        return jsonschema_rs.Registry([(doc["$id"], doc) for doc in self._documents.values()])

    # -- lookup -----------------------------------------------------------------------------

    def client_event_types(self) -> frozenset[str]:
        """The ``type`` of every client event that has a schema."""
        return frozenset(self._client)

    def server_event_types(self) -> frozenset[str]:
        """The ``type`` of every server event that has a schema."""
        return frozenset(self._server)

    def direction_of(self, event_type: str) -> Direction | None:
        """Whether ``event_type`` is a client or a server event (``None``: neither)."""
        if event_type in self._client:
            return "client"
        if event_type in self._server:
            return "server"
        return None

    def schema_for(self, event_type: str) -> dict[str, Any]:
        """The schema of one event type; ``KeyError`` for an unknown type."""
        if event_type in self._client:
            return self._client[event_type]
        return self._server[event_type]

    def schema_by_path(self, path: str) -> dict[str, Any]:
        """Any schema by its path below the root (``defs/response.json``)."""
        return self._documents[Path(path)]

    # -- validation -------------------------------------------------------------------------

    def validator(self, event_type: str) -> jsonschema.Draft202012Validator:
        """A ``jsonschema`` validator for one event type, for readable errors."""
        built: jsonschema.Draft202012Validator = self._validators(event_type)
        return built

    @cached_property
    def _validators(self) -> Any:
        @cache
        def build(event_type: str) -> jsonschema.Draft202012Validator:
            return jsonschema.Draft202012Validator(
                self.schema_for(event_type), registry=self._registry
            )

        return build

    @cached_property
    def _fast(self) -> Any:
        @cache
        def build(event_type: str) -> Any:
            schema = self.schema_for(event_type)
            return jsonschema_rs.validator_for(schema, registry=self._rs_registry)

        return build

    def fast_checks(self, direction: Direction) -> Mapping[str, Callable[[Any], bool]]:
        """Per event type of ``direction``, the compiled yes/no check of its schema.

        The checker's hot path looks the type up once and calls the check, instead of
        :meth:`is_valid` dispatching again. A check is compiled when its type is first looked
        up; a type with no schema of that direction is a ``KeyError``.
        """
        return self._checks[direction]

    @cached_property
    def _checks(self) -> dict[Direction, _CompiledChecks]:
        return {
            "client": _CompiledChecks(self._client.keys(), self._fast),
            "server": _CompiledChecks(self._server.keys(), self._fast),
        }

    def _type_of(self, event: object, direction: Direction | None) -> str | None:
        if not isinstance(event, Mapping):
            return None
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return None
        found = self.direction_of(event_type)
        if found is None or (direction is not None and found != direction):
            return None
        return event_type

    def is_valid(self, event: object, *, direction: Direction | None = None) -> bool:
        """Whether ``event`` validates against the schema of its ``type``.

        An object without a ``type``, or whose ``type`` has no schema here (or is not of the
        given ``direction``), is not valid. Vendor events (RWS-EVENT-2) are therefore not valid
        here; ``server-event.json`` is the schema that admits them.
        """
        event_type = self._type_of(event, direction)
        if event_type is None:
            return False
        return bool(self._fast(event_type).is_valid(event))

    def errors(self, event: object, *, direction: Direction | None = None) -> list[SchemaError]:
        """Readable reasons ``event`` does not validate, best match first; ``[]`` if valid."""
        event_type = self._type_of(event, direction)
        if event_type is None:
            known = sorted(
                self._client | self._server
                if direction is None
                else (self._client if direction == "client" else self._server)
            )
            if not isinstance(event, Mapping):
                message = f"an event must be a JSON object, not {type(event).__name__}"
                return [SchemaError(message, "$", "type", "type")]
            raw = event.get("type")
            if not isinstance(raw, str):
                return [SchemaError("the event has no string 'type'", "$.type", "", "required")]
            shown = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "")
            return [
                SchemaError(f"unknown event type {raw!r} (known: {shown})", "$.type", "", "enum")
            ]
        found = list(self._validators(event_type).iter_errors(event))
        if not found:
            return []
        best = jsonschema.exceptions.best_match(found)
        rest = sorted((e for e in found if e is not best), key=_relevance)
        return [self._convert(e) for e in (best, *rest)]

    @staticmethod
    def _convert(error: jsonschema.exceptions.ValidationError) -> SchemaError:
        # Descend into the most relevant sub-error of anyOf/oneOf so the message names the
        # field that is actually wrong, not "is not valid under any of the given schemas".
        # Among the branches, the one that got deepest into the instance (then into the
        # schema) is the one the author meant: an annotation object with a missing `url` is
        # reported as that, not as "is not of type 'null'".
        leaf = error
        while leaf.context:
            leaf = max(leaf.context, key=_depth)
        schema_path = "/".join(str(p) for p in leaf.absolute_schema_path)
        message = leaf.message
        if leaf.validator == "not" and isinstance(leaf.schema, dict):
            # "should not be valid under {}" says nothing; the schema's description says why.
            message = str(leaf.schema.get("description", message))
        return SchemaError(
            message=message,
            path=_json_path(tuple(leaf.absolute_path)),
            schema_path=schema_path,
            keyword=str(leaf.validator),
        )

    # -- examples ---------------------------------------------------------------------------

    def examples(self) -> Iterator[Example]:
        """Every example file, in a stable order."""
        folder = self.root / "examples"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*/*.json")):
            if path.name.startswith("valid-"):
                valid = True
            elif path.name.startswith("invalid-"):
                valid = False
            else:
                raise ValueError(f"{path.name}: example names start with valid- or invalid-")
            with path.open(encoding="utf-8") as f:
                instance = json.load(f)
            yield Example(path.parent.name, valid, path, instance)


class _CompiledChecks(dict[str, Callable[[Any], bool]]):
    """The checks of one direction, each compiled on its first lookup (compiling them all
    would slow down every checker made for a short transcript)."""

    def __init__(self, types: Iterable[str], build: Callable[[str], Any]) -> None:
        super().__init__()
        self._types = frozenset(types)
        self._build = build

    def __missing__(self, event_type: str) -> Callable[[Any], bool]:
        if event_type not in self._types:
            raise KeyError(event_type)
        check: Callable[[Any], bool] = self._build(event_type).is_valid
        self[event_type] = check
        return check


@cache
def default_schema_set() -> SchemaSet:
    """The schemas shipped with the project (``schemas/`` of this checkout or wheel)."""
    return SchemaSet(_paths.schemas_dir())


def registry() -> referencing.Registry[Any]:
    """A registry of every schema under ``schemas/``, by ``$id``."""
    return default_schema_set().registry()


def client_event_types() -> frozenset[str]:
    """The ``type`` of every client event."""
    return default_schema_set().client_event_types()


def server_event_types() -> frozenset[str]:
    """The ``type`` of every server event."""
    return default_schema_set().server_event_types()


def schema_for(event_type: str) -> dict[str, Any]:
    """The schema of one event type."""
    return default_schema_set().schema_for(event_type)


def validator(event_type: str) -> jsonschema.Draft202012Validator:
    """A ``jsonschema`` validator for one event type (readable errors)."""
    return default_schema_set().validator(event_type)


def is_valid(event: object, *, direction: Direction | None = None) -> bool:
    """Fast check of one event against the schema of its ``type`` (RWS-EVENT-1)."""
    return default_schema_set().is_valid(event, direction=direction)


def errors(event: object, *, direction: Direction | None = None) -> list[SchemaError]:
    """Readable reasons one event does not validate, best match first."""
    return default_schema_set().errors(event, direction=direction)


def examples() -> Iterator[Example]:
    """Every example under ``schemas/examples/``."""
    return default_schema_set().examples()

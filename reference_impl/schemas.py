"""The client-event schemas of ``schemas/``, loaded for validating what clients send.

The server validates every ``response.create`` against ``events/client/response.create.json``
(RWS-CREATE-5): ``jsonschema-rs`` answers the common case (valid) fast; only an invalid event
goes through ``jsonschema`` to find the error to report, which :func:`create_error` turns into
``invalid_type``, ``invalid_value`` or ``missing_required_parameter`` with a ``param`` naming
the offending field.

This module reads the same files as the suite's loader but shares no code with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema_rs
import referencing
import referencing.jsonschema

from reference_impl._paths import schemas_dir
from reference_impl.errors import RequestError

__all__ = ["create_error", "param_of", "steer_valid"]

# The most characters of a ``param`` (a path of the client's keys) an error repeats.
_MAX_PARAM = 64
# Folders of schemas/ that hold data, not schemas.
_NOT_SCHEMAS = frozenset({"examples", "rules"})


@cache
def _documents() -> tuple[dict[str, Any], ...]:
    root = schemas_dir()
    docs = []
    for path in sorted(root.rglob("*.json")):
        if path.relative_to(root).parts[0] in _NOT_SCHEMAS:
            continue
        with path.open(encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and "$id" in doc:
            docs.append(doc)
    return tuple(docs)


def _schema(event_type: str) -> dict[str, Any]:
    with (schemas_dir() / "events" / "client" / f"{event_type}.json").open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


@cache
def _fast(event_type: str) -> Any:
    registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in _documents()])
    return jsonschema_rs.validator_for(_schema(event_type), registry=registry)


@cache
def _slow(event_type: str) -> jsonschema.Draft202012Validator:
    resources = [
        (doc["$id"], referencing.jsonschema.DRAFT202012.create_resource(doc))
        for doc in _documents()
    ]
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(_schema(event_type), registry=registry.crawl())


def param_of(path: Iterable[str | int]) -> str:
    """Return a JSON path as a ``param``: ``input[0].content``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    # A path names the client's own keys: an error repeats at most a bounded part of it.
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 1] + "\u2026"


def _relevance(error: jsonschema.exceptions.ValidationError) -> tuple[int, int]:
    # The deepest error names the actual offending field; then the first in schema order.
    return (-len(error.absolute_path), len(error.absolute_schema_path))


def create_error(event: Mapping[str, Any]) -> RequestError | None:
    """Return the error for a ``response.create`` that fails its schema, or None."""
    if _fast("response.create").is_valid(event):
        return None
    errors = list(_slow("response.create").iter_errors(event))
    if not errors:  # pragma: no cover - the two validators disagree
        return None
    error = jsonschema.exceptions.best_match(errors, key=_relevance)
    # best_match descends into anyOf/oneOf; find the leaf it names.
    while error.context:
        error = min(error.context, key=_relevance)
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        param = param_of([*path, missing[0]] if missing else path)
        return RequestError(
            "missing_required_parameter", f"Missing required parameter: '{param}'.", param=param
        )
    param = param_of(path) or "type"
    if error.validator == "type":
        return RequestError("invalid_type", f"Invalid type for '{param}'.", param=param)
    return RequestError("invalid_value", f"Invalid value for '{param}'.", param=param)


def steer_valid(event: Mapping[str, Any]) -> bool:
    """Whether a ``response.steer`` validates against its schema (RWS-STEER-5)."""
    return bool(_fast("response.steer").is_valid(event))

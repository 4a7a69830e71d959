"""Regenerate the SDK-derived schemas from the official ``openai`` Python SDK's models.

Run with the peers interpreter (the one that has ``openai`` installed), from the repository
root::

    $RWS_PEERS_PYTHON tests/spec/sdk_probe/generate_schemas.py

It writes:

* ``schemas/events/server/<type>.json`` for every member of ``ResponsesServerEvent`` except the
  hand-written ones (``error`` and the three steering events, whose shapes the spec tightens);
* ``schemas/defs/items/<type>.json`` for every member of ``ResponseOutputItem`` except the
  hand-written core items (``message``, ``function_call``, ``reasoning``);
* ``schemas/defs/output-item.json``, the open union over all of them.

Field names, JSON types and optionality come from the SDK models; the envelope rules of the spec
are applied on top (``sequence_number`` >= 0, ``stream_id`` pattern, indexes >= 0, shared
definitions by relative ``$ref``). Rare nested shapes are taken from pydantic's JSON Schema of
the SDK model with the noise (titles, defaults) removed. The script is deterministic: rerunning
it on the same SDK version changes nothing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

__all__ = ["HAND_WRITTEN_EVENTS", "HAND_WRITTEN_ITEMS", "main"]

BASE = "https://responses-ws.org/schemas/draft/"
SCHEMA = "https://json-schema.org/draft/2020-12/schema"

# Events whose schema the spec tightens beyond the SDK model (RWS-ERR-2, RWS-STEER-*): not
# generated, maintained by hand.
HAND_WRITTEN_EVENTS = frozenset(
    {"error", "response.steer.accepted", "response.steer.pending", "response.steer.failed"}
)
# Core output items, maintained by hand so the ordering checker's needs (an `id` on every
# item that deltas refer to) are explicit.
HAND_WRITTEN_ITEMS = frozenset({"message", "function_call", "reasoning"})
# Items that streaming events name by `item_id`: an output item must then carry `id` even
# where the SDK types it optional.
ITEMS_NEEDING_ID = frozenset({"custom_tool_call"})
# Fields the SDK model requires that the spec leaves optional, because deployed servers and
# OpenAI's own reference examples omit them (dossier section 4.2): a schema that required
# them would fail servers the spec means to accept.
OPTIONAL_DESPITE_SDK = frozenset(
    {
        ("response.output_text.delta", "logprobs"),
        ("response.output_text.done", "logprobs"),
    }
)

ENVELOPE = "../../defs/envelope.json#/$defs/"
INDEX_FIELDS = frozenset(
    {
        "output_index",
        "content_index",
        "summary_index",
        "command_index",
        "annotation_index",
        "partial_image_index",
    }
)


# `discriminator` is an OpenAPI keyword, not JSON Schema: the `const` on `type` already
# discriminates. `default` documents pydantic's defaults, not the wire.
_DROPPED = frozenset({"default", "discriminator"})
DELTA_LOGPROB = "../../defs/content-part.json#/$defs/delta_logprob"
ANNOTATION = "../../defs/content-part.json#/$defs/annotation"


def _sdk(module: str) -> Any:
    return importlib.import_module(f"openai.types.responses.{module}")


def _is_noise(key: str, value: Any) -> bool:
    if key == "title":
        return isinstance(value, str)
    if key == "additionalProperties":
        return value is True
    return key in _DROPPED


def _clean(node: Any) -> Any:
    """Drop pydantic's noise: titles, defaults and the redundant `additionalProperties: true`."""
    if isinstance(node, list):
        return [_clean(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            # Keys here are field names (one may be called "title"): keep them all.
            out[key] = {name: _clean(sub) for name, sub in value.items()}
        elif not _is_noise(key, value):
            out[key] = _clean(value)
    return out


def _pydantic_schema(annotation: Any) -> dict[str, Any]:
    pydantic = importlib.import_module("pydantic")
    raw = pydantic.TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}")
    return typing.cast(dict[str, Any], _clean(raw))


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _field_schema(event_type: str, name: str, annotation: Any, defs: dict[str, Any]) -> Any:
    """The schema of one event field, using shared definitions where the spec has them."""
    if name == "stream_id":
        return {"$ref": ENVELOPE + "stream_id"}
    if name == "sequence_number":
        return {"$ref": ENVELOPE + "sequence_number"}
    if name in INDEX_FIELDS:
        return {"$ref": ENVELOPE + "index"}
    if name == "response":
        return {"$ref": "../../defs/response.json"}
    if name == "item":
        return {"$ref": "../../defs/output-item.json"}
    if name == "part" and event_type.startswith("response.content_part."):
        return {"$ref": "../../defs/content-part.json"}
    if name == "part" and event_type.startswith("response.reasoning_summary_part."):
        return {"$ref": "../../defs/content-part.json#/$defs/summary_text"}
    if name == "logprobs":
        return {"type": "array", "items": {"$ref": DELTA_LOGPROB}}
    if name == "annotation":
        return {"oneOf": [{"type": "null"}, {"$ref": ANNOTATION}]}
    if annotation is str:
        return {"type": "string"}
    if annotation is int:
        return {"type": "integer"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        values = list(_literal_values(annotation))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if rest == [str]:
            return {"type": ["string", "null"]}
        if len(rest) == 1 and typing.get_origin(rest[0]) is typing.Literal:
            return {"enum": [*_literal_values(rest[0]), None]}
    # A nested SDK model (shell output deltas...): its pydantic schema, defs lifted to the top.
    schema = _pydantic_schema(annotation)
    defs.update(schema.pop("$defs", {}))
    return schema


def field_docs(cls: Any) -> dict[str, str]:
    """The attribute docstrings of a model and its bases (the SDK documents fields that way)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not getattr(klass, "__module__", "").startswith("openai.types."):
            continue
        tree = ast.parse(inspect.getsource(klass))
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs


def event_schema(cls: Any) -> dict[str, Any]:
    """The schema of one server event class of the SDK union."""
    fields = cls.model_fields
    (event_type,) = _literal_values(fields["type"].annotation)
    defs: dict[str, Any] = {}
    properties: dict[str, Any] = {"type": {"const": event_type}}
    required = ["type"]
    docs = field_docs(cls)
    for name, info in fields.items():
        if name == "type":
            continue
        key = info.alias or name
        prop = _field_schema(event_type, name, info.annotation, defs)
        if name in docs and "description" not in prop:
            prop = {"description": docs[name], **prop}
        properties[key] = prop
        if info.is_required() and (event_type, key) not in OPTIONAL_DESPITE_SDK:
            required.append(key)
    doc = " ".join((cls.__doc__ or "").split())
    schema: dict[str, Any] = {
        "$schema": SCHEMA,
        "$id": f"{BASE}events/server/{event_type}.json",
        "title": event_type,
        "description": f"{doc} (SDK `{cls.__name__}`.)".strip(),
        "type": "object",
        "required": required,
        "properties": properties,
    }
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def item_schema(cls: Any) -> dict[str, Any]:
    """The schema of one output item class, from pydantic, with the spec's envelope."""
    (item_type,) = _literal_values(cls.model_fields["type"].annotation)
    raw = _pydantic_schema(cls)
    if item_type in ITEMS_NEEDING_ID:
        raw["required"] = sorted({*raw.get("required", []), "id"})
        raw["properties"]["id"] = {"type": "string", "minLength": 1}
    raw["properties"]["type"] = {"const": item_type}
    description = raw.pop("description", "")
    schema: dict[str, Any] = {
        "$schema": SCHEMA,
        "$id": f"{BASE}defs/items/{item_type}.json",
        "title": f"Output item: {item_type}",
        "description": f"{' '.join(description.split())} (SDK `{cls.__name__}`.)".strip(),
    }
    schema.update(raw)
    return schema


def output_item_union(item_types: list[str]) -> dict[str, Any]:
    """The open union of output items, dispatched by `if`/`then` on the `type` const."""
    return {
        "$schema": SCHEMA,
        "$id": f"{BASE}defs/output-item.json",
        "title": "Output item",
        "description": (
            "An item of `Response.output` and the `item` of `response.output_item.added` / "
            "`.done` (SDK `ResponseOutputItem`). An open union: a known `type` is checked "
            "strictly by its own schema in items/; any other `type` string is accepted so that "
            "future item types do not fail old validators (RWS-EVENT-3). Dispatch is by "
            "`if`/`then` on the `type` const, not `oneOf`, so only one branch is evaluated."
        ),
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "minLength": 1}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": t}}},
                "then": {"$ref": f"items/{t}.json"},
            }
            for t in item_types
        ],
    }


def _write(path: Path, schema: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(root: Path) -> None:
    schemas = root / "schemas"
    server_union = _sdk("responses_server_event").ResponsesServerEvent
    for cls in typing.get_args(typing.get_args(server_union)[0]):
        (event_type,) = _literal_values(cls.model_fields["type"].annotation)
        if event_type not in HAND_WRITTEN_EVENTS:
            _write(schemas / "events" / "server" / f"{event_type}.json", event_schema(cls))
    item_union = _sdk("response_output_item").ResponseOutputItem
    item_types: list[str] = []
    for cls in typing.get_args(typing.get_args(item_union)[0]):
        (item_type,) = _literal_values(cls.model_fields["type"].annotation)
        item_types.append(item_type)
        if item_type not in HAND_WRITTEN_ITEMS:
            _write(schemas / "defs" / "items" / f"{item_type}.json", item_schema(cls))
    _write(schemas / "defs" / "output-item.json", output_item_union(item_types))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())

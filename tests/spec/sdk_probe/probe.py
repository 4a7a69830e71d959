"""Check the schemas against the official ``openai`` SDK's models; print the findings as JSON.

Run with the peers interpreter (the one that has ``openai`` installed)::

    $RWS_PEERS_PYTHON tests/spec/sdk_probe/probe.py <schemas folder>

It does three things and prints one JSON object on stdout (``tests/spec/test_sdk_interop.py``
asserts on it, validating with the project's own loader, which the peers interpreter lacks):

* ``union``: the ``type`` of every member of ``ResponsesServerEvent`` and ``ResponsesClientEvent``
  (so the test can compare them with the schema files);
* ``examples``: every ``valid-*`` example parsed strictly (pydantic strict mode, JSON input) by
  the SDK model of its type, and by the SDK union, with the class the union picked;
* ``built``: events built from the SDK models - one per event class and union variant, with only
  the required fields and with every field - validated by the SDK and dumped to JSON.
"""

from __future__ import annotations

import enum
import importlib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

__all__ = ["main"]

MAX_DEPTH = 12


def _sdk(module: str) -> Any:
    return importlib.import_module(f"openai.types.responses.{module}")


def _members(union: Any) -> list[Any]:
    """The classes of an SDK union alias (``Annotated[Union[...], PropertyInfo]``)."""
    inner = typing.get_args(union)[0] if typing.get_origin(union) is typing.Annotated else union
    return list(typing.get_args(inner))


def _type_of(cls: Any) -> str:
    (value,) = typing.get_args(cls.model_fields["type"].annotation)
    return str(value)


class Builder:
    """Builds SDK-valid data for a model: variant k picks member k of every union on the way."""

    def __init__(self, variant: int, full: bool) -> None:
        self.variant = variant
        self.full = full
        pydantic = importlib.import_module("pydantic")
        self.base_model: type = pydantic.BaseModel

    def value(self, annotation: Any, name: str, depth: int) -> Any:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.value(args[0], name, depth)
        if annotation is type(None):
            return None
        if origin is typing.Literal:
            return args[self.variant % len(args)] if name != "type" else args[0]
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            if not options:
                return None
            return self.value(options[self.variant % len(options)], name, depth)
        if origin in (list, typing.List):  # noqa: UP006 - the SDK spells it typing.List
            if depth > MAX_DEPTH:
                return []
            return [self.value(args[0], name, depth + 1)]
        if origin in (dict, typing.Dict):  # noqa: UP006
            if depth > MAX_DEPTH:
                return {}
            return {"key": self.value(args[1], name, depth + 1)}
        if isinstance(annotation, type) and issubclass(annotation, self.base_model):
            return self.model(annotation, depth + 1)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return next(iter(annotation)).value
        return self.scalar(annotation, name)

    def scalar(self, annotation: Any, name: str) -> Any:
        if annotation is bool:
            return True
        if annotation is int:
            return 400 if name == "status" else 0
        if annotation is float:
            return 0.5
        if annotation is str:
            return {"stream_id": "lane-1", "arguments": "{}", "url": "https://example.com/"}.get(
                name, f"{name}_1"
            )
        return f"{name}_1"  # object / Any

    def model(self, cls: Any, depth: int) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            if not info.is_required() and (not self.full or depth > MAX_DEPTH):
                continue
            data[info.alias or name] = self.value(info.annotation, name, depth)
        return data


def _variants_needed(cls: Any) -> int:
    """How many variants cover every member of the widest union reachable from the class."""
    widest = 1
    seen: set[int] = set()

    def walk(annotation: Any, depth: int) -> None:
        nonlocal widest
        if depth > 6 or id(annotation) in seen:
            return
        seen.add(id(annotation))
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            widest = max(widest, len([a for a in args if a is not type(None)]))
        for arg in args:
            walk(arg, depth + 1)
        fields = getattr(annotation, "model_fields", None)
        if isinstance(fields, dict):
            for info in fields.values():
                walk(info.annotation, depth + 1)

    walk(cls, 0)
    return widest


def built_events(server_classes: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cls in server_classes:
        seen: set[str] = set()
        for full in (False, True):
            for variant in range(_variants_needed(cls)):
                data = Builder(variant, full).model(cls, 0)
                try:
                    instance = cls.model_validate(data)
                except Exception as exc:  # the builder's own failure, reported not hidden
                    out.append({"event_type": _type_of(cls), "sdk_error": str(exc)[:500]})
                    continue
                dumped = instance.model_dump(mode="json", by_alias=True, exclude_unset=True)
                key = json.dumps(dumped, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                out.append(
                    {
                        "event_type": _type_of(cls),
                        "class": cls.__name__,
                        "full": full,
                        "variant": variant,
                        "instance": dumped,
                    }
                )
    return out


def parsed_examples(
    root: Path, classes: dict[str, Any], unions: dict[str, Any], server_types: list[str]
) -> list[dict[str, Any]]:
    pydantic = importlib.import_module("pydantic")
    adapters = {d: pydantic.TypeAdapter(u) for d, u in unions.items()}
    out: list[dict[str, Any]] = []
    for path in sorted((root / "examples").glob("*/valid-*.json")):
        text = path.read_text(encoding="utf-8")
        event_type = path.parent.name
        record: dict[str, Any] = {"path": f"{event_type}/{path.name}", "event_type": event_type}
        cls = classes.get(event_type)
        if cls is None:
            record["error"] = "the SDK has no event of this type"
            out.append(record)
            continue
        try:
            cls.model_validate_json(text, strict=True)
            record["error"] = None
        except Exception as exc:
            record["error"] = str(exc)[:800]
        direction = "server" if event_type in server_types else "client"
        try:
            picked = adapters[direction].validate_json(text)
            record["union_class"] = type(picked).__name__
        except Exception as exc:
            record["union_class"] = None
            record["union_error"] = str(exc)[:300]
        out.append(record)
    return out


def main(root: Path) -> dict[str, Any]:
    openai = importlib.import_module("openai")
    server_union = _sdk("responses_server_event").ResponsesServerEvent
    client_union = _sdk("responses_client_event").ResponsesClientEvent
    server_classes = _members(server_union)
    client_classes = _members(client_union)
    classes = {_type_of(c): c for c in [*server_classes, *client_classes]}
    server_types = sorted(_type_of(c) for c in server_classes)
    return {
        "sdk_version": openai.__version__,
        "union": {
            "server": server_types,
            "client": sorted(_type_of(c) for c in client_classes),
        },
        "examples": parsed_examples(
            root,
            classes,
            {"server": server_union, "client": client_union},
            server_types,
        ),
        "built": built_events(server_classes),
    }


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout)

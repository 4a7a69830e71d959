"""Hypothesis strategies for valid client events, built from the schemas under ``schemas/``.

One named strategy per client event type (:data:`EVENT_STRATEGIES`): :func:`response_create`
and :func:`response_steer`. The top-level fields of ``response.create`` are read from its schema
and each gets a strategy derived from its property schema by :func:`from_schema` (a small
JSON Schema 2020-12 to Hypothesis translator for the keywords our event schemas use: ``type``,
``const``, ``enum``, ``anyOf``/``oneOf``, ``minimum``/``maximum``, ``minLength``/``maxLength``,
``items``, ``properties``, ``required``, ``maxProperties``, ``propertyNames``, ``$ref``).
``hypothesis-jsonschema`` is not used: it does not implement 2020-12, and the input-item and
content-part unions are ``if``/``then`` chains that a generic generator turns into mostly
rejected draws. Those unions (``input``, steering input) and the fields whose schema says less
than the wire needs (``stream_id``'s character set, the model) are hand-written, from the same
definitions. Every strategy ends in a filter through :mod:`conformance.schemas`, so a drift
between a hand-written part and the schemas shows up as a failing test, not as bad examples.

Text fields mix arbitrary Unicode with ``conformance-1`` directives (appendix A.3) so that runs
produce items, deltas and tool calls instead of a bare ``ok``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from hypothesis import strategies as st
from referencing._core import Resolver

from conformance.schemas import SCHEMA_BASE_URI, SchemaSet, default_schema_set

__all__ = [
    "EVENT_STRATEGIES",
    "LANE_CHARS",
    "client_events",
    "directive_lines",
    "from_schema",
    "input_items",
    "json_values",
    "lane_names",
    "prompts",
    "response_create",
    "response_steer",
    "user_text",
]

# RWS-LANE-3: the characters of a lane name (envelope.json#/$defs/stream_id).
LANE_CHARS = string.ascii_letters + string.digits + "_.-"

# Sizes stay small: valid events exist to be answered quickly; mutations.py makes the big ones.
_MAX_ITEMS = 3

json_scalars: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)

#: Any JSON value (small), for fields the schema leaves open (``reasoning``, ``text``...).
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def lane_names(max_size: int = 12) -> st.SearchStrategy[str]:
    """A valid ``stream_id`` (RWS-LANE-3); short by default, up to 256 characters."""
    return st.text(alphabet=LANE_CHARS, min_size=1, max_size=max_size)


def directive_lines() -> st.SearchStrategy[str]:
    """One ``conformance-1`` directive line (appendix A.3) with small, fast parameters."""
    small = st.integers(min_value=0, max_value=60)
    chunks = st.integers(min_value=1, max_value=6)
    name = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8)
    arguments = st.sampled_from(['{"a":1}', "{}", '{"city":"Paris","n":[1,2]}'])
    # Free text of a custom tool's input or of code: the rest of the line, spaces included.
    free_text = st.sampled_from(["", "ls -la | wc -l", "print(sum(range(10)))", "x = 'a b'"])
    return st.one_of(
        st.builds(lambda n, k: f"rws:text length={n} chunks={k}", small, chunks),
        st.builds(
            lambda n, k, m: f"rws:text length={n} chunks={k} annotations={m}",
            small,
            chunks,
            st.integers(min_value=0, max_value=4),
        ),
        st.builds(lambda n, k: f"rws:refusal length={n} chunks={k}", small, chunks),
        st.builds(
            lambda n, m, k: f"rws:reasoning summary={n} text={m} chunks={k}", small, small, chunks
        ),
        st.builds(
            lambda f, k, a: f"rws:call name={f} chunks={k} arguments={a}", name, chunks, arguments
        ),
        st.builds(
            lambda f, k, t: f"rws:custom name={f} chunks={k} input={t}", name, chunks, free_text
        ),
        st.builds(
            lambda s, f, k, a: f"rws:mcp server={s} name={f} chunks={k} arguments={a}",
            name,
            name,
            chunks,
            arguments,
        ),
        st.builds(lambda k, t: f"rws:code chunks={k} code={t}", chunks, free_text),
        st.just("rws:context"),
        st.just("rws:incomplete"),
        st.builds(lambda n: f"rws:fail after={n}", st.integers(min_value=1, max_value=8)),
    )


# Ordinary prompts for a model other than conformance-1: it reads no directives, and what it
# answers does not matter to the fuzzer (the answer is capped with max_output_tokens).
_PROMPTS: tuple[str, ...] = (
    "Name three colours.",
    "Say hello in one word.",
    "Count from one to five.",
    "What did I ask before?",
    "Name a city by the sea.",
)


def prompts() -> st.SearchStrategy[str]:
    """The text of a user message for a model other than ``conformance-1``."""
    return st.sampled_from(_PROMPTS)


def user_text() -> st.SearchStrategy[str]:
    """The text of a user message: directives, arbitrary text, or both on separate lines."""
    return st.one_of(
        st.lists(directive_lines(), min_size=1, max_size=3).map("\n".join),
        st.text(max_size=40),
        st.tuples(st.text(max_size=20), directive_lines()).map("\n".join),
    )


def _text_parts() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.builds(lambda t: {"type": "input_text", "text": t}, user_text()),
        min_size=1,
        max_size=2,
    )


def _content() -> st.SearchStrategy[str | list[dict[str, Any]]]:
    return st.one_of(user_text(), _text_parts())


def input_items() -> st.SearchStrategy[dict[str, Any]]:
    """One item of ``response.create.input`` (defs/input-item.json), of the checked kinds."""
    call_id = st.text(alphabet=LANE_CHARS, min_size=1, max_size=10).map("call_".__add__)
    message = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "developer"]),
            "content": _content(),
        },
        optional={"type": st.just("message")},
    )
    function_call_output = st.fixed_dictionaries(
        {
            "type": st.just("function_call_output"),
            "output": st.one_of(st.text(max_size=20), _text_parts()),
        },
        optional={"call_id": call_id},
    )
    function_call = st.fixed_dictionaries(
        {
            "type": st.just("function_call"),
            "call_id": call_id,
            "name": st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
            "arguments": st.sampled_from(["{}", '{"a":1}']),
        }
    )
    return st.one_of(message, message, function_call_output, function_call)


def _input() -> st.SearchStrategy[str | list[dict[str, Any]]]:
    return st.one_of(user_text(), st.lists(input_items(), max_size=_MAX_ITEMS))


def _resolve(
    schema: Mapping[str, Any], resolver: Resolver[Any]
) -> tuple[Mapping[str, Any], Resolver[Any]]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema, resolver
    resolved = resolver.lookup(ref)
    return resolved.contents, resolved.resolver


def from_schema(
    schema: Mapping[str, Any] | bool, resolver: Resolver[Any]
) -> st.SearchStrategy[Any]:
    """A strategy for instances of ``schema`` (the subset of keywords our schemas use).

    Keywords outside the subset (``if``/``then``, ``not``, ``pattern``) are not generated
    for; callers filter the result through the validator.
    """
    if schema is True:
        return json_values
    if schema is False:
        return st.nothing()
    assert isinstance(schema, Mapping)
    schema, resolver = _resolve(schema, resolver)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return st.one_of([from_schema(branch, resolver) for branch in schema[keyword]])
    types = schema.get("type")
    if types is None:
        return json_values
    names = [types] if isinstance(types, str) else list(types)
    return st.one_of([_of_type(name, schema, resolver) for name in names])


def _of_type(
    name: str, schema: Mapping[str, Any], resolver: Resolver[Any]
) -> st.SearchStrategy[Any]:
    if name == "null":
        return st.none()
    if name == "boolean":
        return st.booleans()
    if name == "integer":
        low = schema.get("minimum")
        high = schema.get("maximum")
        return st.integers(
            min_value=int(low) if low is not None else -(2**31),
            max_value=int(high) if high is not None else 2**31,
        )
    if name == "number":
        return st.floats(
            min_value=schema.get("minimum"),
            max_value=schema.get("maximum"),
            allow_nan=False,
            allow_infinity=False,
        )
    if name == "string":
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 24), 24)
        )
    if name == "array":
        items = schema.get("items", True)
        return st.lists(from_schema(items, resolver), max_size=_MAX_ITEMS)
    if name == "object":
        return _object(schema, resolver)
    raise ValueError(f"unsupported JSON type {name!r}")


def _object(schema: Mapping[str, Any], resolver: Resolver[Any]) -> st.SearchStrategy[Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    additional = schema.get("additionalProperties", True)
    if not properties and additional is not False:
        values = from_schema(additional, resolver) if additional is not True else json_values
        key_size = min(schema.get("propertyNames", {}).get("maxLength", 8), 8)
        return st.dictionaries(
            st.text(max_size=key_size),
            values,
            max_size=min(schema.get("maxProperties", _MAX_ITEMS), _MAX_ITEMS),
        )
    return st.fixed_dictionaries(
        {name: from_schema(properties[name], resolver) for name in required},
        optional={
            name: from_schema(sub, resolver)
            for name, sub in properties.items()
            if name not in required
        },
    )


def _some_fields(
    required: Mapping[str, st.SearchStrategy[Any]],
    optional: Mapping[str, st.SearchStrategy[Any]],
    most: int,
) -> st.SearchStrategy[dict[str, Any]]:
    """``required`` plus at most ``most`` of the ``optional`` fields."""
    names = sorted(optional)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {name: draw(strategy) for name, strategy in required.items()}
        for name in draw(st.lists(st.sampled_from(names), max_size=most, unique=True)):
            out[name] = draw(optional[name])
        return out

    return build()


def _resolver(schemas: SchemaSet, path: str) -> Resolver[Any]:
    return schemas.registry().resolver(base_uri=SCHEMA_BASE_URI + path)


@st.composite
def response_create(
    draw: st.DrawFn,
    model: str = "conformance-1",
    *,
    lanes: bool = True,
    schemas: SchemaSet | None = None,
) -> dict[str, Any]:
    """A schema-valid ``response.create`` (schemas/events/client/response.create.json).

    ``model`` is the model the server offers (any other string is also drawn, rarely, for
    ``model_not_found``); without ``lanes`` no ``stream_id`` is drawn (``null`` still is).
    """
    # A composite keeps the strategy's repr short (Hypothesis prints it); the strategy
    # itself is built once per argument set.
    if schemas is None:
        return draw(_create_strategy(model, lanes))
    return draw(_build_create(model, lanes, schemas))


@cache
def _create_strategy(model: str, lanes: bool) -> st.SearchStrategy[dict[str, Any]]:
    return _build_create(model, lanes, default_schema_set())


def _build_create(model: str, lanes: bool, schemas: SchemaSet) -> st.SearchStrategy[dict[str, Any]]:
    schema = schemas.schema_for("response.create")
    resolver = _resolver(schemas, "events/client/response.create.json")
    overrides: dict[str, st.SearchStrategy[Any]] = {
        "model": st.one_of(st.just(model), st.just(model), st.text(max_size=12)),
        "input": _input(),
        # RWS-LANE-3: the schema's "no character outside the set" is a `not`, which
        # from_schema does not generate for.
        "stream_id": st.one_of(st.none(), lane_names()) if lanes else st.none(),
        "previous_response_id": st.one_of(
            st.none(), st.text(alphabet=LANE_CHARS, min_size=1, max_size=12).map("resp_".__add__)
        ),
        "instructions": st.one_of(st.none(), st.text(max_size=30)),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, sub in schema["properties"].items():
        if name in ("type", "response"):
            continue  # `type` is fixed below; `response` must be absent (RWS-CREATE-1)
        optional[name] = overrides[name] if name in overrides else from_schema(sub, resolver)
    required: dict[str, st.SearchStrategy[Any]] = {"type": st.just("response.create")}
    # Most requests name the model, give input and set a few other fields, as real clients
    # do (drawing every optional field at even odds would make nearly every request
    # `stream: false`, `background: true` or a continuation of an unknown id); the rest of
    # the time every field, those two included, is optional.
    others = {k: v for k, v in optional.items() if k not in ("model", "input")}
    common = _some_fields(
        {**required, "model": st.just(model), "input": overrides["input"]}, others, 3
    )
    rare = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(common, common, common, rare).filter(schemas.is_valid)


@st.composite
def response_steer(draw: st.DrawFn, schemas: SchemaSet | None = None) -> dict[str, Any]:
    """A schema-valid ``response.steer`` (schemas/events/client/response.steer.json)."""
    if schemas is None:
        return draw(_steer_strategy())
    return draw(_build_steer(schemas))


@cache
def _steer_strategy() -> st.SearchStrategy[dict[str, Any]]:
    return _build_steer(default_schema_set())


def _build_steer(schemas: SchemaSet) -> st.SearchStrategy[dict[str, Any]]:
    user_message = st.fixed_dictionaries(
        {
            "role": st.just("user"),
            "content": st.one_of(
                user_text(),
                st.lists(
                    st.one_of(
                        st.builds(
                            lambda t: {"type": "input_text", "text": t}, st.text(max_size=20)
                        ),
                        st.builds(
                            lambda u: {"type": "input_image", "image_url": u, "detail": "auto"},
                            st.just("https://example.com/cat.png"),
                        ),
                    ),
                    max_size=2,
                ),
            ),
        },
        optional={"type": st.just("message")},
    )
    return st.fixed_dictionaries(
        {
            "type": st.just("response.steer"),
            "previous_response_id": st.text(alphabet=LANE_CHARS, min_size=1, max_size=12).map(
                "resp_".__add__
            ),
            "input": st.one_of(user_text(), st.lists(user_message, min_size=1, max_size=2)),
        }
    ).filter(schemas.is_valid)


#: One named strategy factory per client event type.
EVENT_STRATEGIES: Mapping[str, Callable[..., st.SearchStrategy[dict[str, Any]]]] = {
    "response.create": response_create,
    "response.steer": response_steer,
}


def client_events(
    model: str = "conformance-1", *, lanes: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """Any valid client event, ``response.create`` most of the time."""
    return st.one_of(
        response_create(model, lanes=lanes),
        response_create(model, lanes=lanes),
        response_create(model, lanes=lanes),
        response_steer(),
    )

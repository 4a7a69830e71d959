"""``freeform-1``'s function-call arguments are valid for the function's ``parameters`` schema.

Each schema is run through the whole model (``tool_choice`` forcing the function) for several
seeds, and the ``arguments`` are validated with ``jsonschema`` (draft 2020-12, formats checked).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.model import build_context, freeform, normalize_input
from reference_impl.model.instances import MAX_ITEMS, arguments_for, instance_of, regex_example
from reference_impl.model.seeded import SeededStream

__all__: list[str] = []

SCHEMAS: dict[str, dict[str, Any]] = {
    "no-properties": {"type": "object", "properties": {}},
    "untyped-empty": {},
    "strings-and-enum": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "optional-left-out": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 3, "maximum": 5},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "price": {"type": "number", "multipleOf": 0.01, "minimum": 10},
            "step": {"type": "integer", "multipleOf": 7},
            "negative": {"type": "integer", "maximum": -10},
            "narrow": {"type": "number", "minimum": 0.25, "maximum": 0.75},
        },
        "required": ["count", "ratio", "price", "step", "negative", "narrow"],
    },
    "booleans-and-null": {
        "type": "object",
        "properties": {"flag": {"type": "boolean"}, "nothing": {"type": "null"}},
        "required": ["flag", "nothing"],
    },
    "nested-objects": {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 2, "maxLength": 20},
                    "address": {
                        "type": "object",
                        "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                        "required": ["zip"],
                    },
                },
                "required": ["name", "address"],
            }
        },
        "required": ["user"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "items": False,
                "minItems": 2,
            },
            "many": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 4,
                "uniqueItems": True,
            },
            "with": {"type": "array", "contains": {"const": "needle"}},
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    "required": ["x", "y"],
                },
                "maxItems": 3,
            },
        },
        "required": ["tags", "pair", "many", "with", "points"],
    },
    "strict-mode-nullable": {
        "type": "object",
        "properties": {
            "note": {"type": ["string", "null"]},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "id": {"type": "string", "format": "uuid"},
        },
        "required": ["note", "when", "mail", "id"],
        "additionalProperties": False,
    },
    "const-and-anyof": {
        "type": "object",
        "properties": {
            "kind": {"const": "circle"},
            "size": {"anyOf": [{"type": "string", "enum": ["s", "m"]}, {"type": "integer"}]},
            "shape": {
                "oneOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "integer", "maximum": 100},
                    {"type": "string"},
                ]
            },
        },
        "required": ["kind", "size", "shape"],
    },
    "refs-and-defs": {
        "type": "object",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["label"],
            }
        },
        "properties": {"root": {"$ref": "#/$defs/node"}},
        "required": ["root"],
    },
    "draft-07-definitions": {
        "definitions": {"color": {"type": "string", "enum": ["red", "green"]}},
        "type": "object",
        "properties": {"color": {"$ref": "#/definitions/color"}},
        "required": ["color"],
    },
    "all-of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string", "minLength": 4}}, "required": ["b"]},
        ]
    },
    "min-properties-and-dependencies": {
        "type": "object",
        "properties": {"x": {"type": "string"}, "y": {"type": "string"}, "z": {"type": "integer"}},
        "minProperties": 2,
        "dependentRequired": {"y": ["z"]},
    },
    "additional-properties-map": {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "minProperties": 1,
    },
}
# Format assertion on: a date-time must be a date-time, an email an email.
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def forced_call(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    tool = {"type": "function", "name": "fn", "parameters": schema}
    counter = itertools.count()
    result = freeform.generate_run(
        response={"id": "resp_args", "created_at": 0},
        context=build_context((), (), normalize_input(prompt)),
        request={"tools": [tool], "tool_choice": {"type": "function", "name": "fn"}},
        restored_items=0,
        ids=lambda prefix: f"{prefix}_{next(counter)}",
    )
    (item,) = result.output
    assert item["type"] == "function_call"
    deltas = [
        e["delta"] for e in result.events if e["type"] == "response.function_call_arguments.delta"
    ]
    assert "".join(deltas) == item["arguments"]
    return item


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@pytest.mark.parametrize("prompt", ["first", "second", "a third prompt"])
def test_arguments_validate_against_the_parameters_schema(name: str, prompt: str) -> None:
    schema = SCHEMAS[name]
    arguments = json.loads(forced_call(schema, prompt)["arguments"])
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    assert list(validator.iter_errors(arguments)) == []


def test_arguments_hold_the_required_properties_only() -> None:
    arguments = json.loads(forced_call(SCHEMAS["optional-left-out"], "x")["arguments"])
    assert list(arguments) == ["a"]


def test_enum_takes_its_first_value() -> None:
    arguments = json.loads(forced_call(SCHEMAS["strings-and-enum"], "x")["arguments"])
    assert arguments["unit"] == "celsius"


def test_string_values_differ_between_seeds() -> None:
    cities = {
        json.loads(forced_call(SCHEMAS["strings-and-enum"], f"p{n}")["arguments"])["city"]
        for n in range(10)
    }
    assert len(cities) >= 3


def test_function_without_parameters_takes_an_empty_object() -> None:
    assert arguments_for(None, SeededStream(b"k"), lambda: "w") == "{}"


def test_a_schema_that_requires_endless_nesting_gives_a_bounded_instance() -> None:
    """A recursive required property has no finite instance: the builder stops, it never hangs."""
    schema = {
        "type": "object",
        "properties": {"next": {"$ref": "#"}},
        "required": ["next"],
    }
    text = arguments_for(schema, SeededStream(b"k"), lambda: "w")
    assert text.startswith('{"next":{"next":')
    assert len(text) < 2000


def test_huge_minimums_are_capped() -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 10**9}
    value = instance_of(schema, SeededStream(b"k"), lambda: "w")
    assert isinstance(value, list)
    assert len(value) == MAX_ITEMS


def test_a_catastrophic_pattern_is_not_matched_against_long_text() -> None:
    """(a+)+b against a long run of a's would backtrack for ages; it is never tried.

    The schema asks for 200 characters matching the pattern; the builder does not try its
    long candidates against it and falls back on the pattern's own example.
    """
    schema = {"type": "string", "minLength": 200, "pattern": "(a+)+b"}
    assert instance_of(schema, SeededStream(b"k"), lambda: "aaaa") == "ab"


@pytest.mark.parametrize(
    ("pattern", "example"),
    [
        ("^[0-9]{5}$", "00000"),
        (r"^[A-Z]{2}-\d{3,}$", "AA-000"),
        ("(ab|c)+x", "abx"),
        (r"^\w+@\w+\.com$", "a@a.com"),
        (r"(a)\1", "aa"),
        ("^[^a0]$", "A"),
    ],
)
def test_patterns_get_an_example_built_from_their_parse_tree(pattern: str, example: str) -> None:
    assert regex_example(pattern) == example
    assert re.search(pattern, example)


@pytest.mark.parametrize("pattern", ["[", r"\p{L}"])
def test_patterns_python_cannot_read_give_no_example(pattern: str) -> None:
    assert regex_example(pattern) is None


# A grammar of satisfiable schemas: every one has an instance, so every instance must validate.
_scalars = st.one_of(
    st.just({"type": "string"}),
    st.builds(
        lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
        st.integers(0, 30),
        st.integers(0, 10),
    ),
    st.builds(
        lambda low, extra: {"type": "integer", "minimum": low, "maximum": low + extra},
        st.integers(-1000, 1000),
        st.integers(0, 50),
    ),
    st.builds(
        lambda low, step: {"type": "number", "exclusiveMinimum": low, "multipleOf": step},
        st.integers(-50, 50),
        st.sampled_from([1, 2, 5, 0.5, 0.25, 0.1]),
    ),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}
    ),
    st.sampled_from(sorted(freeform.WORDS)).map(lambda w: {"const": w}),
)


@st.composite
def _objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    names = st.from_regex(r"[a-z]{1,8}", fullmatch=True)
    properties = draw(st.dictionaries(names, children, max_size=4))
    required = (
        draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    )
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


@st.composite
def _nullable(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    child = draw(children)
    kind = child.get("type")
    if not isinstance(kind, str):
        return child
    return {**child, "type": draw(st.permutations([kind, "null"]))}


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _objects(children),
        st.builds(
            lambda items, low: {"type": "array", "items": items, "minItems": low},
            children,
            st.integers(0, 3),
        ),
        st.builds(lambda a, b: {"anyOf": [a, b]}, children, children),
        _nullable(children),
    )


_schemas = st.recursive(_scalars, _extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(_schemas, st.binary(min_size=1, max_size=8))
def test_instances_of_satisfiable_schemas_validate(schema: dict[str, Any], key: bytes) -> None:
    stream = SeededStream(key)
    value = instance_of(schema, stream, lambda: stream.choice(freeform.WORDS))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(value)) == []

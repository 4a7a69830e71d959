"""Function-call arguments for ``freeform-1``: a small valid instance of a JSON Schema.

``freeform-1`` answers a forced ``tool_choice`` with a ``function_call`` whose ``arguments``
must be valid for the function's ``parameters`` schema, as a real model's are. This module
builds a *minimal* instance: the required properties only (and as many optional ones as
``minProperties`` asks), arrays of one item (or ``minItems``), the first ``enum`` value, the
``const``, strings of a word of the model's vocabulary (or a sample of the ``format``, or an
example built from the ``pattern``: :func:`regex_example`), numbers within the bounds and on
``multipleOf``, a seeded boolean. It understands ``type`` (a list of types takes its first
type other than ``null``), ``properties``/``required``/``additionalProperties``/
``patternProperties``/``minProperties``/``dependentRequired``, ``items``/``prefixItems``/
``minItems``/``maxItems``/``contains``, ``minLength``/``maxLength``/``pattern``/``format``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/``multipleOf``, local
``$ref`` (``#``, ``#/$defs/...``, ``#/definitions/...``), ``allOf`` (merged), and
``anyOf``/``oneOf`` (the first branch whose instance the whole schema accepts, checked with
``jsonschema``).

Nothing here can run away: nesting, the number of values, string lengths, array lengths and
the number of ``jsonschema`` checks are all capped, so a recursive or huge schema gives a
bounded (if then possibly invalid) instance, never an endless loop. Everything drawn comes
from the caller's :class:`~reference_impl.model.seeded.SeededStream`, so the same schema and
stream give the same instance.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

import jsonschema

from .seeded import SeededStream

__all__ = [
    "FORMATS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STRING",
    "MAX_VALUES",
    "arguments_for",
    "instance_of",
    "regex_example",
]

MAX_DEPTH = 48  # nested schemas followed ($ref, allOf, anyOf and values count alike)
MAX_VALUES = 1000  # values generated in one instance
MAX_STRING = 1000  # characters of one generated string (minLength beyond it is not met)
MAX_ITEMS = 100  # items of one generated array (minItems beyond it is not met)
_MAX_CHECKS = 64  # jsonschema checks while choosing anyOf/oneOf branches and pattern strings
_MAX_BRANCHES = 8  # anyOf/oneOf branches tried
# Only strings this short are matched against a schema's pattern (by re, or by jsonschema
# when the schema has patterns): a pattern with catastrophic backtracking then costs
# milliseconds, not hours. Strings for a pattern are built from it (regex_example), unmatched.
_MATCHED_LENGTH = 12

# Samples of the string formats of JSON Schema 2020-12 that models are asked for most.
FORMATS: Mapping[str, str] = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri-reference": "https://example.com/",
    "uri-template": "https://example.com/{id}",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "json-pointer": "/a",
    "relative-json-pointer": "0",
    "regex": "^a$",
}
# Strings tried, in order, when the drawn one does not match a schema's pattern.
_PATTERN_TRIES = ("", "a", "A", "0", "1", "a1", "abc", "ABC", "123", "abc123", "a_b", "a-b")
_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_OBJECT_KEYS = ("properties", "required", "additionalProperties", "minProperties")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems", "contains")
_STRING_KEYS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# Keys of merged schemas where the stricter bound wins.
_LOWER_BOUNDS = frozenset({"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"})
_UPPER_BOUNDS = frozenset({"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"})

Schema = Mapping[str, Any]


def arguments_for(parameters: object, stream: SeededStream, word: Callable[[], str]) -> str:
    """Return the ``arguments`` JSON text of a call to a function with these ``parameters``.

    A function without a ``parameters`` object takes ``{}``; the top level is an object when
    the schema names no type (function parameters are always an object).
    """
    if not isinstance(parameters, Mapping):
        return "{}"
    value = instance_of(parameters, stream, word, root_type="object")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def instance_of(
    schema: Schema, stream: SeededStream, word: Callable[[], str], *, root_type: str | None = None
) -> object:
    """Return a small instance of ``schema`` drawn from ``stream`` (strings from ``word``)."""
    return _Builder(schema, stream, word).value(schema, 0, root_type=root_type)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _merge(a: Schema, b: Schema) -> dict[str, Any]:
    """Return one schema that asks for what both ``a`` and ``b`` ask (for allOf and branches)."""
    merged = dict(a)
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, Mapping):
            mine = merged[key] if isinstance(merged[key], Mapping) else {}
            both = dict(mine)
            for name, sub in value.items():
                both[name] = {"allOf": [mine[name], sub]} if name in mine else sub
            merged[key] = both
        elif key == "required" and isinstance(value, list):
            mine = merged[key] if isinstance(merged[key], list) else []
            merged[key] = [*mine, *(r for r in value if r not in mine)]
        elif key == "type":
            mine_types = _types(merged[key])
            common = [t for t in mine_types if t in _types(value)]
            merged[key] = common if common else value
        elif key in _LOWER_BOUNDS and _is_number(value) and _is_number(merged[key]):
            merged[key] = max(merged[key], value)
        elif key in _UPPER_BOUNDS and _is_number(value) and _is_number(merged[key]):
            merged[key] = min(merged[key], value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            # Two alternatives at once: keep both (the second as one more allOf member).
            merged["allOf"] = [*merged.get("allOf", []), {key: value}]
        else:
            merged[key] = value
    return merged


def _types(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    return []


class _Builder:
    """One instance under construction: the root (for ``$ref``), the stream and the caps."""

    def __init__(self, root: Schema, stream: SeededStream, word: Callable[[], str]) -> None:
        self.root = root
        self.stream = stream
        self.word = word
        self.values = 0
        self.checks = 0
        # Whether the schema may hold a pattern (a description naming one counts too).
        self.patterned = "pattern" in json.dumps(root, default=str)
        try:
            self.validator: jsonschema.protocols.Validator | None = jsonschema.Draft202012Validator(
                root
            )
        except Exception:
            self.validator = None

    # --- schemas --------------------------------------------------------------------------

    def check(self, schema: object, instance: object) -> bool | None:
        """Whether ``schema`` accepts ``instance``; None when that cannot be told (any more)."""
        if (
            self.validator is None
            or self.checks >= _MAX_CHECKS
            or (self.patterned and _longest_string(instance) > _MATCHED_LENGTH)
        ):
            return None
        self.checks += 1
        try:
            return bool(self.validator.evolve(schema=schema).is_valid(cast(Any, instance)))
        except Exception:
            # A schema jsonschema cannot use (a bad pattern, an unknown $ref...): no verdict.
            return None

    def resolve(self, ref: object) -> Schema | None:
        """Return the schema a local ``$ref`` points to (``#`` or a JSON pointer), else None."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node: object = self.root
        pointer = ref[1:]
        if pointer:
            if not pointer.startswith("/"):
                return None  # an anchor: not followed
            for raw in pointer[1:].split("/"):
                part = raw.replace("~1", "/").replace("~0", "~")
                if isinstance(node, Mapping) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return None
        if node is True:
            return {}
        return cast(Schema, node) if isinstance(node, Mapping) else None

    def flatten(self, schema: Schema, depth: int) -> tuple[dict[str, Any], int]:
        """Follow ``$ref`` and merge ``allOf`` into one schema; return it and the depth used."""
        flat = dict(schema)
        while depth < MAX_DEPTH and ("$ref" in flat or "allOf" in flat):
            depth += 1
            if "$ref" in flat:
                target = self.resolve(flat.pop("$ref"))
                flat = _merge(flat, target) if target is not None else flat
                continue
            members = flat.pop("allOf")
            for member in members if isinstance(members, list) else ():
                if isinstance(member, Mapping):
                    flat = _merge(flat, member)
        flat.pop("$ref", None)
        flat.pop("allOf", None)
        return flat, depth

    # --- values ---------------------------------------------------------------------------

    def value(
        self, schema: object, depth: int, *, variant: int = 0, root_type: str | None = None
    ) -> object:
        """Return an instance of ``schema``; ``variant`` tells apart the items of one array."""
        self.values += 1
        if depth >= MAX_DEPTH or self.values > MAX_VALUES or not isinstance(schema, Mapping):
            return None  # also the boolean schemas: true accepts null, false accepts nothing
        flat, depth = self.flatten(schema, depth)
        if "const" in flat:
            return copy.deepcopy(flat["const"])
        enum = flat.get("enum")
        if isinstance(enum, list) and enum:
            return copy.deepcopy(enum[0])
        for key in ("anyOf", "oneOf"):
            branches = flat.get(key)
            if isinstance(branches, list) and branches:
                return self.choose(flat, key, branches, depth, variant)
        kind = self.type_of(flat) or root_type
        if kind == "object":
            return self.build_object(flat, depth)
        if kind == "array":
            return self.build_array(flat, depth)
        if kind in ("integer", "number"):
            return self.build_number(flat, integer=kind == "integer", variant=variant)
        if kind == "boolean":
            return self.stream.chance(1, 2)
        if kind == "null":
            return None
        return self.build_string(flat, variant)  # "string", or no type at all: a word fits

    def choose(
        self, flat: Schema, key: str, branches: list[Any], depth: int, variant: int
    ) -> object:
        """anyOf/oneOf: the first branch whose instance the whole schema accepts."""
        rest = {k: v for k, v in flat.items() if k != key}
        first: list[object] = []
        for branch in branches[:_MAX_BRANCHES]:
            if branch is False:
                continue
            candidate = self.value(
                _merge(rest, branch) if isinstance(branch, Mapping) else rest,
                depth + 1,
                variant=variant,
            )
            if not first:
                first.append(candidate)
            verdict = self.check(flat, candidate)
            if verdict is None:
                return first[0]  # no verdict to be had: take the first branch
            if verdict:
                return candidate
        return first[0] if first else None

    def type_of(self, flat: Schema) -> str | None:
        """The type to build: the first of ``type`` other than null, else what the keys imply."""
        declared = [t for t in _types(flat.get("type")) if t in _TYPES]
        if declared:
            concrete = [t for t in declared if t != "null"]
            return concrete[0] if concrete else "null"
        for kind, keys in (
            ("object", _OBJECT_KEYS),
            ("array", _ARRAY_KEYS),
            ("string", _STRING_KEYS),
            ("number", _NUMBER_KEYS),
        ):
            if any(k in flat for k in keys):
                return kind
        return None

    def build_object(self, flat: Schema, depth: int) -> dict[str, Any]:
        properties = flat.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        names: list[str] = []
        required = flat.get("required")
        for name in required if isinstance(required, list) else ():
            if isinstance(name, str) and name not in names:
                names.append(name)
        minimum = flat.get("minProperties")
        wanted = minimum if isinstance(minimum, int) and not isinstance(minimum, bool) else 0
        for name in properties:
            if len(names) >= wanted:
                break
            if isinstance(name, str) and name not in names:
                names.append(name)
        extra = flat.get("additionalProperties")
        while len(names) < min(wanted, MAX_ITEMS) and extra is not False:
            names.append(f"field{len(names) + 1}")
        dependent = flat.get("dependentRequired")
        if isinstance(dependent, Mapping):
            for name in list(names):
                needed = dependent.get(name)
                for other in needed if isinstance(needed, list) else ():
                    if isinstance(other, str) and other not in names:
                        names.append(other)
        result: dict[str, Any] = {}
        for name in names:
            result[name] = self.value(self.property_schema(flat, properties, name), depth + 1)
        return result

    def property_schema(self, flat: Schema, properties: Mapping[str, Any], name: str) -> object:
        if name in properties:
            return properties[name]
        patterns = flat.get("patternProperties")
        if isinstance(patterns, Mapping):
            for regex, sub in patterns.items():
                if isinstance(regex, str) and _matches(regex, name):
                    return sub
        extra = flat.get("additionalProperties")
        return extra if isinstance(extra, Mapping) else {}

    def build_array(self, flat: Schema, depth: int) -> list[Any]:
        prefix = flat.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = flat.get("items", True)
        if isinstance(items, list):  # the tuple form of drafts before 2020-12
            prefix, items = items, flat.get("additionalItems", True)
        low = flat.get("minItems")
        high = flat.get("maxItems")
        count = max(low, 1) if isinstance(low, int) and not isinstance(low, bool) else 1
        if isinstance(high, int) and not isinstance(high, bool):
            count = min(count, max(high, 0))
        if items is False:
            count = min(count, len(prefix))
        count = min(count, MAX_ITEMS)
        contains = flat.get("contains")
        result: list[Any] = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            if index == 0 and isinstance(contains, Mapping):
                sub = _merge(sub, contains) if isinstance(sub, Mapping) else contains
            result.append(self.value(sub, depth + 1, variant=index))
        return result

    def build_string(self, flat: Schema, variant: int) -> str:
        low = flat.get("minLength")
        high = flat.get("maxLength")
        shortest = min(low, MAX_STRING) if isinstance(low, int) and not isinstance(low, bool) else 0
        longest = high if isinstance(high, int) and not isinstance(high, bool) else MAX_STRING
        fmt = flat.get("format")
        text = FORMATS[fmt] if isinstance(fmt, str) and fmt in FORMATS else self.word()
        if variant and not (isinstance(fmt, str) and fmt in FORMATS):
            text = f"{text}{variant + 1}"  # the items of one array differ (uniqueItems)
        while len(text) < shortest:
            text = f"{text}-{self.word()}"
        text = text[: max(longest, 0)]
        pattern = flat.get("pattern")
        if not isinstance(pattern, str):
            return text
        # A string built from the pattern itself; else the first of a few that it matches.
        example = regex_example(pattern)
        if example is not None and shortest <= len(example) <= longest:
            return example
        fits = [
            t
            for t in (text, *_PATTERN_TRIES, "a" * shortest, "0" * shortest, "a0" * shortest)
            if shortest <= len(t) <= longest
        ]
        return next((t for t in fits if _matches(pattern, t)), example or text)

    def build_number(self, flat: Schema, *, integer: bool, variant: int) -> int | float:
        low, low_open = _bound(flat, "minimum", "exclusiveMinimum", lower=True)
        high, high_open = _bound(flat, "maximum", "exclusiveMaximum", lower=False)
        bounds = _Bounds(low, low_open, high, high_open)
        raw_step = flat.get("multipleOf")
        step = raw_step if _is_number(raw_step) and raw_step > 0 else None
        base = self.stream.between(1, 20) + variant
        first = _first_int(low, low_open, lower=True)
        last = _first_int(high, high_open, lower=False)
        value: int | float = base
        if first is not None and last is not None and first > last:
            # No integer lies inside the bounds: the middle (a number), or the nearest integer.
            if integer or low is None or high is None:
                return first
            value = (low + high) / 2
        elif first is not None and last is not None:
            value = first + (base - 1) % (last - first + 1)
        elif first is not None:
            value = first + base - 1
        elif last is not None:
            value = min(base, last)
        if step is not None:
            return _multiple_near(value, step, bounds, integer=integer)
        if not integer and bounds.admit(value + 0.5):
            return value + 0.5  # a number that is not an integer, as a model would write one
        return value


# The characters tried for a negated character class ([^...]) and for ".".
_CLASS_TRIES = "a0A_ -.x"


def regex_example(pattern: str) -> str | None:
    """Return a short string that ``pattern`` matches, built from its parse tree; else None.

    It walks the tree of Python's own regex parser: a literal is itself, a class its first
    member (a negated class the first of ``_CLASS_TRIES`` outside it), a repeat its minimum
    count (at most ``MAX_ITEMS``), a group its content, an alternation its first branch, a
    back reference the group's text, anchors and lookarounds nothing. A tree with lookarounds
    or conditionals is checked against the pattern (when short enough, see
    ``_MATCHED_LENGTH``); anything it cannot read gives None.
    """
    try:
        parser = importlib.import_module("re._parser")
        tree = parser.parse(pattern)
    except Exception:
        return None
    out: list[str] = []
    groups: dict[int, str] = {}
    checked = [False]

    def emit(items: Any) -> None:
        for op, argument in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(argument))
            elif name == "NOT_LITERAL":
                out.append("b" if argument == ord("a") else "a")
            elif name == "ANY":
                out.append("a")
            elif name == "IN":
                out.append(_class_member(argument))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, _, sub = argument
                for _ in range(min(low, MAX_ITEMS)):
                    emit(sub)
            elif name == "SUBPATTERN":
                group, _, _, sub = argument
                start = len("".join(out))
                emit(sub)
                if group is not None:
                    groups[group] = "".join(out)[start:]
            elif name == "ATOMIC_GROUP":
                emit(argument)
            elif name == "BRANCH":
                emit(argument[1][0])
            elif name == "GROUPREF":
                out.append(groups.get(argument, ""))
            elif name in ("ASSERT", "ASSERT_NOT", "GROUPREF_EXISTS"):
                checked[0] = True  # lookarounds and conditionals: the result must be checked
            elif name != "AT":
                raise ValueError(name)

    try:
        emit(tree)
    except Exception:
        return None
    text = "".join(out)
    if checked[0] and not _matches(pattern, text):
        return None
    return text


def _class_member(items: Any) -> str:
    """A character of a parsed character class (``IN``)."""
    negated = bool(items) and str(items[0][0]) == "NEGATE"
    members = items[1:] if negated else items
    if negated:
        return next((c for c in _CLASS_TRIES if not _in_class(c, members)), "a")
    for op, argument in members:
        name = str(op)
        if name == "LITERAL":
            return chr(argument)
        if name == "RANGE":
            return chr(argument[0])
        if name == "CATEGORY":
            candidate = next((c for c in _CLASS_TRIES if _in_class(c, [(op, argument)])), None)
            if candidate is not None:
                return candidate
    return "a"


_CATEGORIES: Mapping[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdigit,
    "CATEGORY_NOT_DIGIT": lambda c: not c.isdigit(),
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_NOT_SPACE": lambda c: not c.isspace(),
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
    "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
}


def _in_class(char: str, members: Any) -> bool:
    for op, argument in members:
        name = str(op)
        if name == "LITERAL" and ord(char) == argument:
            return True
        if name == "RANGE" and argument[0] <= ord(char) <= argument[1]:
            return True
        if name == "CATEGORY":
            test = _CATEGORIES.get(str(argument))
            if test is not None and test(char):
                return True
    return False


def _longest_string(value: object) -> int:
    """The length of the longest string in a JSON value (keys included)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return max((max(len(str(k)), _longest_string(v)) for k, v in value.items()), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _matches(pattern: str, text: str) -> bool:
    if len(text) > _MATCHED_LENGTH:
        return False  # not tried: see _MATCHED_LENGTH
    try:
        return re.search(pattern, text) is not None
    except (re.error, RecursionError):
        return False


def _bound(
    flat: Schema, inclusive: str, exclusive: str, *, lower: bool
) -> tuple[float | None, bool]:
    """The bound of one side and whether it is exclusive (draft 4's boolean form included)."""
    raw = flat.get(inclusive)
    value = float(raw) if _is_number(raw) and math.isfinite(raw) else None
    strict = flat.get(exclusive)
    if isinstance(strict, bool):
        return value, strict and value is not None
    if (
        _is_number(strict)
        and math.isfinite(strict)
        and (value is None or (strict >= value if lower else strict <= value))
    ):
        return float(strict), True
    return value, False


def _first_int(bound: float | None, strict: bool, *, lower: bool) -> int | None:
    """The first integer inside a bound (the smallest above a lower bound, largest below)."""
    if bound is None:
        return None
    if lower:
        return math.floor(bound) + 1 if strict else math.ceil(bound)
    return math.ceil(bound) - 1 if strict else math.floor(bound)


@dataclass(frozen=True, slots=True)
class _Bounds:
    low: float | None
    low_open: bool
    high: float | None
    high_open: bool

    def admit(self, value: float) -> bool:
        """Whether ``value`` lies inside the bounds."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is None:
            return True
        return value < self.high if self.high_open else value <= self.high


def _is_multiple(value: float, step: float) -> bool:
    # The test jsonschema applies: an integral quotient for a float step, a remainder else.
    if isinstance(step, float):
        try:
            quotient = value / step
            return int(quotient) == quotient
        except (OverflowError, ZeroDivisionError):
            return False
    return value % step == 0


def _multiple_near(value: float, step: float, bounds: _Bounds, *, integer: bool) -> int | float:
    """A multiple of ``step`` inside the bounds near ``value`` (``value`` itself when none)."""
    start = math.ceil(value / step)
    for k in itertools.chain(range(start, start + 50), range(start - 1, start - 50, -1)):
        candidate: int | float = k * step
        if candidate == int(candidate):
            candidate = int(candidate)
        elif integer:
            continue
        if bounds.admit(candidate) and _is_multiple(candidate, step):
            return candidate
    return value

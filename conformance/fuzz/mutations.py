"""Strategies for invalid (and borderline) client input, each with the answer the spec requires.

A :class:`Mutation` is one or more frames to send plus an :class:`Expected`: what a conforming
server answers. The expected error codes are never written here: each mutation names the
requirement that governs its defect (``RWS-CREATE-9`` for text that is not JSON, ...), and
:func:`codes_for` looks the codes up in the error registry ``schemas/rules/errors.json``
(each code lists the requirements it serves). The close code for a text frame that is not
UTF-8 comes from the registry's close-code table the same way.

Kinds (:data:`MUTATIONS`, one named strategy each): ``malformed_json``, ``non_object_json``,
``concatenated`` (two events in one message), ``split`` (one event in two messages),
``binary``, ``invalid_utf8``, ``unknown_type``, ``missing_required``, ``bad_stream_id``,
``wrong_type``, ``bad_value``, ``wrapped``, ``unknown_field``, ``huge_string``,
``huge_array``, ``deep_nesting``, ``lone_surrogate``, ``stream_false``.

``invalid_utf8`` is sent as a text frame holding the raw bytes (``websockets`` sends bytes
in a text frame unchecked), and recorded as a text record with ``utf8`` false and its bytes
(docs/transcripts.md; see :mod:`conformance.fuzz.client`).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

from conformance import _paths
from conformance.fuzz.client import Frame
from conformance.fuzz.strategies import (
    LANE_CHARS,
    json_values,
    response_create,
    response_steer,
)
from conformance.schemas import default_schema_set

__all__ = [
    "MUTATIONS",
    "Expected",
    "Mutation",
    "close_codes_for",
    "codes_for",
    "error_registry",
    "mutations",
]

# Bounds that keep a run fast while still exceeding what hand-written scenarios send.
HUGE_STRING_MAX = 256 * 1024
HUGE_ARRAY_MAX = 2000
DEEP_MAX = 160


@cache
def error_registry() -> Mapping[str, Any]:
    """The parsed ``schemas/rules/errors.json``."""
    path = _paths.schemas_dir() / "rules" / "errors.json"
    data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def codes_for(*requirements: str) -> frozenset[str]:
    """The error codes the registry lists for any of ``requirements``."""
    registry = error_registry()
    wanted = set(requirements)
    return frozenset(
        code for code, row in registry["codes"].items() if wanted & set(row.get("requirements", ()))
    )


def close_codes_for(phrase: str) -> frozenset[int]:
    """The close codes whose registry entry's ``when`` mentions ``phrase``."""
    return frozenset(
        int(code)
        for code, row in error_registry()["close_codes"].items()
        if phrase.lower() in str(row.get("when", "")).lower()
    )


@dataclass(frozen=True)
class Expected:
    """What a conforming server answers to a mutation.

    ``kind``:

    * ``"errors"``: one ``error`` event per frame, each with a code in ``codes``;
    * ``"outcome"``: exactly one request outcome, a run or a request-scoped error whose code
      is in ``codes`` (codes that depend on the request, such as
      ``previous_response_not_found``, are added by the oracle);
    * ``"outcome_error"``: exactly one request-scoped error with a code in ``codes``, no run;
    * ``"steer"``: one ``response.steer.failed`` with a code in ``codes`` (or, with the
      steering profile, ``response.steer.accepted``);
    * ``"close"``: the server closes the connection with a code in ``close``.
    """

    kind: str
    requirements: tuple[str, ...]
    codes: frozenset[str] = frozenset()
    close: frozenset[int] = frozenset()
    count: int = 1

    def describe(self) -> str:
        """A short human description, for reports."""
        if self.kind == "close":
            return f"close with {sorted(self.close)} ({', '.join(self.requirements) or 'RFC 6455'})"
        what = {
            "errors": f"{self.count} error event(s)",
            "outcome": "one outcome (a run or a request-scoped error)",
            "outcome_error": "one request-scoped error event and no run",
            "steer": "one response.steer reply",
        }[self.kind]
        codes = f" with code in {sorted(self.codes)}" if self.codes else ""
        return f"{what}{codes} ({', '.join(self.requirements)})"


@dataclass(frozen=True)
class Mutation:
    """Frames to send and the answer the spec requires."""

    kind: str
    frames: tuple[Frame, ...]
    expected: Expected
    # the event before serialisation, when there is one (for tests and reports)
    event: Any = None

    def __repr__(self) -> str:
        # Hypothesis prints the minimal example; huge payloads are summarised.
        frames = ", ".join(repr(f) for f in self.frames)
        return f"Mutation({self.kind!r}, frames=[{frames}], expected={self.expected.describe()!r})"


def _steering_codes() -> frozenset[str]:
    # RWS-STEER-1 (no steering profile) and RWS-STEER-5 (invalid steering input).
    return frozenset(error_registry()["steering_codes"]) & {
        "steering_not_supported",
        "invalid_input",
    }


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _expect_errors(*requirements: str, count: int = 1) -> Expected:
    return Expected("errors", requirements, codes_for(*requirements), count=count)


def _create(model: str) -> st.SearchStrategy[dict[str, Any]]:
    # Valid requests on the default lane without `stream: false` / `background: true`
    # (RWS-CREATE-20), so that the mutation's one defect decides the answer: which of two
    # defects a server reports first is not specified.
    return response_create(model, lanes=False).filter(
        lambda e: e.get("stream") is not False and e.get("background") is not True
    )


# --- frames that are not one JSON object -------------------------------------------------


def malformed_json(model: str) -> st.SearchStrategy[Mutation]:
    """Text that is not JSON: a cut-off event, or arbitrary text. RWS-CREATE-9."""
    cut = st.tuples(_create(model), st.integers(min_value=1)).map(
        lambda pair: _json_text(pair[0])[: 1 + pair[1] % max(1, len(_json_text(pair[0])) - 1)]
    )
    text = st.one_of(cut, st.text(max_size=60)).filter(lambda t: not _is_json(t))
    return text.map(
        lambda t: Mutation("malformed_json", (Frame.text(t),), _expect_errors("RWS-CREATE-9"))
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def non_object_json(model: str) -> st.SearchStrategy[Mutation]:
    """JSON that is not an object: an array (of events, even), a string, a number. RWS-CREATE-9."""
    value = st.one_of(
        st.lists(_create(model), min_size=1, max_size=2),
        json_values.filter(lambda v: not isinstance(v, dict)),
    )
    return value.map(
        lambda v: Mutation("non_object_json", (Frame.json(v),), _expect_errors("RWS-CREATE-9"), v)
    )


def concatenated(model: str) -> st.SearchStrategy[Mutation]:
    """Two valid events in one message (RWS-TRANS-6 broken): not JSON. RWS-CREATE-9."""
    return st.tuples(_create(model), _create(model), st.sampled_from(["", "\n", " "])).map(
        lambda t: Mutation(
            "concatenated",
            (Frame.text(_json_text(t[0]) + t[2] + _json_text(t[1])),),
            _expect_errors("RWS-CREATE-9"),
            [t[0], t[1]],
        )
    )


def split(model: str) -> st.SearchStrategy[Mutation]:
    """One valid event split across two text messages: two answers of RWS-CREATE-9."""

    def build(pair: tuple[dict[str, Any], int]) -> Mutation:
        text = _json_text(pair[0])
        at = 1 + pair[1] % (len(text) - 1)
        return Mutation(
            "split",
            (Frame.text(text[:at]), Frame.text(text[at:])),
            _expect_errors("RWS-CREATE-9", count=2),
            pair[0],
        )

    return st.tuples(_create(model), st.integers(min_value=0)).map(build)


def binary(model: str) -> st.SearchStrategy[Mutation]:
    """A binary message: arbitrary bytes or a valid event's JSON. RWS-CREATE-10."""
    payload = st.one_of(
        st.binary(max_size=64), _create(model).map(lambda e: _json_text(e).encode("utf-8"))
    )
    return payload.map(
        lambda b: Mutation("binary", (Frame("binary", b),), _expect_errors("RWS-CREATE-10"))
    )


def invalid_utf8(model: str) -> st.SearchStrategy[Mutation]:
    """A text frame whose bytes are not UTF-8: the WebSocket layer closes (RFC 6455 8.1)."""
    bad = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])

    def build(t: tuple[dict[str, Any], bytes, int]) -> Mutation:
        event, junk, where = t
        data = _json_text(event).encode("utf-8")
        at = where % (len(data) + 1)
        return Mutation(
            "invalid_utf8",
            (Frame("text", data[:at] + junk + data[at:]),),
            Expected("close", (), close=close_codes_for("not valid UTF-8")),
            event,
        )

    return st.tuples(_create(model), bad, st.integers(min_value=0)).map(build)


# --- JSON objects that are not valid client events ------------------------------------------


def unknown_type(model: str) -> st.SearchStrategy[Mutation]:
    """An object whose ``type`` is missing, not a string, or not a client event. RWS-CREATE-11."""
    schemas = default_schema_set()
    client = schemas.client_event_types()
    bad_type = st.one_of(
        st.text(max_size=30).filter(lambda t: t not in client),
        st.sampled_from(sorted(schemas.server_event_types())),
        st.sampled_from(
            ["Response.create", "response.create ", "response.cancel", "session.update"]
        ),
        json_values.filter(lambda v: not isinstance(v, str)),
    )

    def build(t: tuple[dict[str, Any], Any, bool]) -> Mutation:
        event, value, drop = t
        changed = {k: v for k, v in event.items() if k != "type"}
        if not drop:
            changed["type"] = value
        return Mutation(
            "unknown_type", (Frame.json(changed),), _expect_errors("RWS-CREATE-11"), changed
        )

    return st.tuples(_create(model), bad_type, st.booleans()).map(build)


def missing_required(model: str) -> st.SearchStrategy[Mutation]:
    """A client event without one of the fields its schema requires.

    Without ``type`` it is no client event (RWS-CREATE-11); a ``response.steer`` without
    ``previous_response_id`` or ``input`` fails (RWS-STEER-1 without the steering profile,
    RWS-STEER-5 with it).
    """
    schemas = default_schema_set()

    def build(t: tuple[dict[str, Any], int]) -> Mutation:
        event, pick = t
        required = list(schemas.schema_for(event["type"]).get("required", []))
        field = required[pick % len(required)]
        changed = {k: v for k, v in event.items() if k != field}
        if field == "type":
            expected = _expect_errors("RWS-CREATE-11")
        else:
            expected = Expected("steer", ("RWS-STEER-1", "RWS-STEER-5"), _steering_codes())
        return Mutation("missing_required", (Frame.json(changed),), expected, changed)

    return st.tuples(st.one_of(_create(model), response_steer()), st.integers(min_value=0)).map(
        build
    )


def bad_stream_id(model: str) -> st.SearchStrategy[Mutation]:
    """A ``response.create`` whose ``stream_id`` breaks RWS-LANE-3: empty, too long, a
    character outside the set, a trailing newline, or not a string."""
    wrong: st.SearchStrategy[Any] = st.one_of(
        st.just(""),
        st.text(alphabet=LANE_CHARS, min_size=257, max_size=300),
        st.tuples(
            st.text(alphabet=LANE_CHARS, max_size=8),
            st.characters(exclude_characters=LANE_CHARS, exclude_categories=["Cs"]),
            st.text(alphabet=LANE_CHARS, max_size=8),
        ).map("".join),
        st.text(alphabet=LANE_CHARS, min_size=1, max_size=8).map(lambda s: s + "\n"),
        st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({})),
    )

    def build(t: tuple[dict[str, Any], Any]) -> Mutation:
        changed = {**t[0], "stream_id": t[1]}
        return Mutation(
            "bad_stream_id", (Frame.json(changed),), _expect_errors("RWS-LANE-3"), changed
        )

    return st.tuples(_create(model), wrong).map(build)


def _wrong_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
        st.text(max_size=10),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )


def _create_field_names() -> list[str]:
    properties = default_schema_set().schema_for("response.create")["properties"]
    # type and stream_id have mutations of their own; `response` has `wrapped`.
    return sorted(name for name in properties if name not in ("type", "stream_id", "response"))


def wrong_type(model: str) -> st.SearchStrategy[Mutation]:
    """A field of ``response.create`` with a value of a type its schema forbids. RWS-CREATE-5."""
    schemas = default_schema_set()

    def build(t: tuple[dict[str, Any], str, Any]) -> dict[str, Any]:
        return {**t[0], t[1]: t[2]}

    events = st.tuples(_create(model), st.sampled_from(_create_field_names()), _wrong_values()).map(
        build
    )
    return events.filter(lambda e: not schemas.is_valid(e)).map(
        lambda e: Mutation("wrong_type", (Frame.json(e),), _expect_create_5(), e)
    )


def _expect_create_5() -> Expected:
    return Expected("outcome_error", ("RWS-CREATE-5",), codes_for("RWS-CREATE-5"))


def bad_value(model: str) -> st.SearchStrategy[Mutation]:
    """A field of the right type outside its range, enum or size. RWS-CREATE-5."""
    schemas = default_schema_set()
    changes = st.one_of(
        st.floats(min_value=2.0, exclude_min=True, allow_infinity=False).map(
            lambda v: {"temperature": v}
        ),
        st.floats(max_value=0.0, exclude_max=True, allow_infinity=False).map(
            lambda v: {"top_p": v}
        ),
        st.integers(max_value=-1).map(lambda v: {"max_output_tokens": v}),
        st.integers(min_value=21).map(lambda v: {"top_logprobs": v}),
        st.text(min_size=1, max_size=10)
        .filter(lambda v: v not in ("auto", "disabled"))
        .map(lambda v: {"truncation": v}),
        st.text(min_size=129, max_size=200).map(lambda v: {"safety_identifier": v}),
        st.dictionaries(
            st.text(min_size=1, max_size=5), st.text(max_size=3), min_size=17, max_size=20
        ).map(lambda v: {"metadata": v}),
        st.text(min_size=513, max_size=600).map(lambda v: {"metadata": {"k": v}}),
        st.sampled_from(
            [[1], ["text"], [None], [{"role": "robot", "content": "x"}], [{"content": "x"}]]
        ).map(lambda v: {"input": v}),
    )
    events = st.tuples(_create(model), changes).map(lambda t: {**t[0], **t[1]})
    return events.filter(lambda e: not schemas.is_valid(e)).map(
        lambda e: Mutation("bad_value", (Frame.json(e),), _expect_create_5(), e)
    )


def wrapped(model: str) -> st.SearchStrategy[Mutation]:
    """The create body wrapped in a ``response`` object (RWS-CREATE-1 broken): RWS-CREATE-5."""
    return _create(model).map(
        lambda e: Mutation(
            "wrapped",
            (
                Frame.json(
                    {
                        "type": "response.create",
                        "response": {k: v for k, v in e.items() if k != "type"},
                    }
                ),
            ),
            _expect_create_5(),
        )
    )


# --- valid or borderline events the server must still answer normally --------------------


def _unknown_names(known: frozenset[str]) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=16).filter(
        lambda n: n not in known
    )


def unknown_field(model: str) -> st.SearchStrategy[Mutation]:
    """An event with a top-level field its schema does not name.

    ``response.create``: ignored (RWS-CREATE-4) or ``unknown_parameter`` (RWS-CREATE-15).
    ``response.steer`` is closed: ``invalid_input`` (RWS-STEER-5) or, without the steering
    profile, ``steering_not_supported`` (RWS-STEER-1).
    """
    schemas = default_schema_set()
    create_known = frozenset(schemas.schema_for("response.create")["properties"])
    steer_known = frozenset(schemas.schema_for("response.steer")["properties"])

    def create_case(t: tuple[dict[str, Any], str, Any]) -> Mutation:
        changed = {**t[0], t[1]: t[2]}
        return Mutation(
            "unknown_field",
            (Frame.json(changed),),
            Expected("outcome", ("RWS-CREATE-4", "RWS-CREATE-15"), codes_for("RWS-CREATE-15")),
            changed,
        )

    def steer_case(t: tuple[dict[str, Any], str, Any]) -> Mutation:
        changed = {**t[0], t[1]: t[2]}
        return Mutation(
            "unknown_field",
            (Frame.json(changed),),
            Expected("steer", ("RWS-STEER-1", "RWS-STEER-5"), _steering_codes()),
            changed,
        )

    return st.one_of(
        st.tuples(_create(model), _unknown_names(create_known), json_values).map(create_case),
        st.tuples(response_steer(), _unknown_names(steer_known), json_values).map(steer_case),
    )


def _outcome(kind: str, event: dict[str, Any], *requirements: str) -> Mutation:
    return Mutation(
        kind,
        (Frame.json(event),),
        Expected("outcome", requirements, codes_for(*requirements)),
        event,
    )


def huge_string(model: str) -> st.SearchStrategy[Mutation]:
    """A valid create with a long string (up to 256 KiB, below every allowed message limit).

    RWS-TRANS-7: accepted like any message below 1 MiB; RWS-LIMIT-6: what the server cannot
    process is refused with a request error (CREATE-5 codes), never a crash.
    """
    size = st.integers(min_value=1024, max_value=HUGE_STRING_MAX)
    char = st.sampled_from(["a", "é", "😀", " ", "\n"])
    field = st.sampled_from(["input", "instructions", "user"])

    def build(t: tuple[dict[str, Any], int, str, str]) -> Mutation:
        event, n, c, name = t
        text = c * (n // len(c.encode("utf-8")))
        return _outcome(
            "huge_string", {**event, name: text}, "RWS-TRANS-7", "RWS-LIMIT-6", "RWS-CREATE-5"
        )

    return st.tuples(_create(model), size, char, field).map(build)


def huge_array(model: str) -> st.SearchStrategy[Mutation]:
    """A valid create with many input items, tools or include entries (up to 2,000)."""
    n = st.integers(min_value=50, max_value=HUGE_ARRAY_MAX)
    kind = st.sampled_from(["input", "tools", "include"])

    def build(t: tuple[dict[str, Any], int, str]) -> Mutation:
        event, count, name = t
        if name == "input":
            value: list[Any] = [{"role": "user", "content": f"m{i}"} for i in range(count)]
        elif name == "tools":
            value = [{"type": "function", "name": f"f{i}", "parameters": {}} for i in range(count)]
        else:
            value = [f"x{i}" for i in range(count)]
        return _outcome(
            "huge_array", {**event, name: value}, "RWS-TRANS-7", "RWS-LIMIT-6", "RWS-CREATE-5"
        )

    return st.tuples(_create(model), n, kind).map(build)


def _nest(depth: int, leaf: Any, shape: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if shape == "list" else {"x": value}
    return value


def deep_nesting(model: str) -> st.SearchStrategy[Mutation]:
    """A valid create with a deeply nested value in an open field (up to 160 levels).

    RWS-LIMIT-6: a server may refuse what it cannot process (a request error), but the
    connection must survive.
    """
    depth = st.integers(min_value=1, max_value=DEEP_MAX)
    name = st.sampled_from(["reasoning", "text", "prompt_cache_options", "background_options"])
    shape = st.sampled_from(["list", "dict"])

    def build(t: tuple[dict[str, Any], int, str, str]) -> Mutation:
        event, n, field, how = t
        return _outcome(
            "deep_nesting",
            {**event, field: {"nested": _nest(n, 1, how)}},
            "RWS-LIMIT-6",
            "RWS-CREATE-5",
        )

    return st.tuples(_create(model), depth, name, shape).map(build)


def lone_surrogate(model: str) -> st.SearchStrategy[Mutation]:
    r"""Valid UTF-8 JSON whose string escapes a lone surrogate (``"\ud800"``): JSON text, but no
    Unicode string. RWS-LIMIT-6: a run or a request error, never a crash."""
    high = st.integers(min_value=0xD800, max_value=0xDFFF)
    name = st.sampled_from(["input", "instructions", "user"])

    def build(t: tuple[dict[str, Any], int, str]) -> Mutation:
        event, code, field = t
        changed = {**event, field: f"a{chr(code)}b"}
        # json.dumps escapes the surrogate as \udXXX (ASCII), which is valid UTF-8.
        return Mutation(
            "lone_surrogate",
            (Frame.text(json.dumps(changed, separators=(",", ":"))),),
            Expected("outcome", ("RWS-LIMIT-6", "RWS-CREATE-5"), codes_for("RWS-CREATE-5")),
            changed,
        )

    return st.tuples(_create(model), high, name).map(build)


def stream_false(model: str) -> st.SearchStrategy[Mutation]:
    """``stream: false`` or ``background: true``: a streamed run (RWS-CREATE-18/19) or
    ``unsupported_parameter`` (RWS-CREATE-20)."""
    change = st.sampled_from([{"stream": False}, {"background": True}])
    return st.tuples(_create(model), change).map(
        lambda t: Mutation(
            "stream_false",
            (Frame.json({**t[0], **t[1]}),),
            Expected(
                "outcome",
                ("RWS-CREATE-18", "RWS-CREATE-19", "RWS-CREATE-20"),
                codes_for("RWS-CREATE-20"),
            ),
            {**t[0], **t[1]},
        )
    )


#: Every mutation kind, by name.
MUTATIONS: Mapping[str, Callable[[str], st.SearchStrategy[Mutation]]] = {
    "malformed_json": malformed_json,
    "non_object_json": non_object_json,
    "concatenated": concatenated,
    "split": split,
    "binary": binary,
    "invalid_utf8": invalid_utf8,
    "unknown_type": unknown_type,
    "missing_required": missing_required,
    "bad_stream_id": bad_stream_id,
    "wrong_type": wrong_type,
    "bad_value": bad_value,
    "wrapped": wrapped,
    "unknown_field": unknown_field,
    "huge_string": huge_string,
    "huge_array": huge_array,
    "deep_nesting": deep_nesting,
    "lone_surrogate": lone_surrogate,
    "stream_false": stream_false,
}


def mutations(
    model: str = "conformance-1", kinds: tuple[str, ...] | None = None
) -> st.SearchStrategy[Mutation]:
    """Any mutation (or those of ``kinds``)."""
    names = kinds or tuple(MUTATIONS)
    return st.one_of([MUTATIONS[name](model) for name in names])

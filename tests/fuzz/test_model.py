"""The stateful fuzzer's own model of contexts agrees with appendix A.1 and the reference."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.fuzz.stateful import Conn, ConversationModel, Response, context_digest
from conformance.fuzz.stateful import normalise_input as fuzz_normalise
from conformance.fuzz.strategies import input_items, user_text
from reference_impl.model.context import context_digest as reference_digest
from reference_impl.model.context import normalize_input as reference_normalise

__all__: list[str] = []

inputs = st.one_of(user_text(), st.lists(input_items(), max_size=3))


def test_digest_of_the_empty_context_is_sha256_of_empty_array() -> None:
    assert context_digest([]) == hashlib.sha256(b"[]").hexdigest()


@settings(max_examples=150, deadline=None)
@given(inputs)
def test_normalised_input_and_digest_match_the_reference_model(value: Any) -> None:
    ours = fuzz_normalise(value)
    assert ours == reference_normalise(value)
    assert context_digest(ours) == reference_digest(ours)


def test_string_input_becomes_one_user_message() -> None:
    assert fuzz_normalise("hi") == [{"type": "message", "role": "user", "content": "hi"}]


def _response(rid: str, conn: int, store: bool, status: str = "completed") -> Response:
    return Response(rid, [], [], store, status, conn, 0, None)


class _NoClient:
    pass


def _conn(serial: int, entries: dict[str | None, str]) -> Conn:
    return Conn(serial, _NoClient(), 0, dict(entries))  # type: ignore[arg-type]


def test_cache_model_predicts_hits_hydration_and_cross_connection_misses() -> None:
    model = ConversationModel()
    here = _conn(1, {None: "resp_a"})
    other = _conn(2, {})
    # RWS-CACHE-2: a lane's entry on the same connection is served, store or not.
    assert model.predict(here, _response("resp_a", 1, store=False)) == "run"
    # RWS-CACHE-3: a stored response is hydrated on any connection.
    assert model.predict(other, _response("resp_a", 1, store=True)) == "run"
    # RWS-CACHE-8: a store=false response of another connection is never served.
    assert model.predict(other, _response("resp_a", 1, store=False)) == "not_found"
    # RWS-CACHE-9: an older store=false response of the same connection may be kept.
    assert model.predict(here, _response("resp_old", 1, store=False)) == "either"
    # RWS-LIMIT-5: nothing is served to another API key, stored or not.
    other_key = Conn(3, _NoClient(), 1)  # type: ignore[arg-type]
    assert model.predict(other_key, _response("resp_a", 1, store=True)) == "not_found"

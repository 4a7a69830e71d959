"""The stateful fuzzer's own model of contexts and of the cache agrees with the spec.

Contexts: appendix A.1's normalisation and digest, as the reference model computes them.
Cache: the fuzzer predicts through the checker's executor of ``schemas/rules/cache.json``, so
these cases pin the predictions a fuzzing session relies on for any model (a run, or
``previous_response_not_found``), and the failure message that names what was sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.checker.cache import ResponseFacts
from conformance.checker.model import digest, normalize_input
from conformance.fuzz.cache_model import Conn, ConversationModel, judge
from conformance.fuzz.strategies import input_items, user_text
from reference_impl.model.context import context_digest as reference_digest
from reference_impl.model.context import normalize_input as reference_normalise

__all__: list[str] = []

inputs = st.one_of(user_text(), st.lists(input_items(), max_size=3))


def test_digest_of_the_empty_context_is_sha256_of_empty_array() -> None:
    assert digest([]) == hashlib.sha256(b"[]").hexdigest()


@settings(max_examples=150, deadline=None)
@given(inputs)
def test_normalised_input_and_digest_match_the_reference_model(value: Any) -> None:
    ours = normalize_input(value)
    assert ours == reference_normalise(value)
    assert ours is not None
    assert digest(ours) == reference_digest(ours)


def test_string_input_becomes_one_user_message() -> None:
    assert normalize_input("hi") == [{"type": "message", "role": "user", "content": "hi"}]


@dataclass
class _Named:
    """Stands in for a wire client: the cache model reads only the connection's name."""

    conn: str


def _conn(model: ConversationModel, name: str, key: int = 0) -> Conn:
    conn = Conn(_Named(name), key)  # type: ignore[arg-type]
    model.conns.append(conn)
    return conn


def _ended(model: ConversationModel, conn: Conn, rid: str, *, store: bool) -> None:
    request = {"type": "response.create", "model": "m", "input": "hi", "store": store}
    facts = ResponseFacts(rid, conn.name, conn.principal, store, None, status="completed")
    model.run_ended(conn, None, request, facts)


def _expect(model: ConversationModel, conn: Conn, rid: str) -> str:
    return model.predict(conn, rid, None).expect


def test_same_connection_entry_is_served_store_true_or_false() -> None:
    model = ConversationModel()
    here = _conn(model, "c1")
    _ended(model, here, "resp_a", store=False)
    # RWS-CACHE-2: the lane's entry on the same connection is served, store or not.
    assert _expect(model, here, "resp_a") == "served"


def test_stored_response_hydrates_and_unstored_one_misses_on_another_connection() -> None:
    model = ConversationModel()
    here, other = _conn(model, "c1"), _conn(model, "c2")
    _ended(model, here, "resp_stored", store=True)
    _ended(model, here, "resp_local", store=False)
    # RWS-CACHE-3: a stored response is hydrated on another connection.
    assert _expect(model, other, "resp_stored") == "served"
    # RWS-CACHE-8: a store=false response of another connection is never served.
    prediction = model.predict(other, "resp_local", None)
    assert (prediction.expect, prediction.code) == ("error", "previous_response_not_found")


def test_another_api_key_cannot_continue_even_a_stored_response() -> None:
    model = ConversationModel()
    here, other_key = _conn(model, "c1"), _conn(model, "c2", key=1)
    _ended(model, here, "resp_a", store=True)
    # RWS-LIMIT-5: nothing is served to another principal.
    assert _expect(model, other_key, "resp_a") == "error"


def test_an_evicting_error_on_the_continuation_makes_the_entry_miss() -> None:
    model = ConversationModel()
    here = _conn(model, "c1")
    _ended(model, here, "resp_a", store=False)
    bad = {"type": "response.create", "previous_response_id": "resp_a", "temperature": "hot"}
    model.request_error(here, None, bad, "invalid_request_error")
    # RWS-CACHE-5: after a failed continuation the store=false entry is gone.
    assert _expect(model, here, "resp_a") in ("error", "open")


def test_judge_accepts_the_predicted_outcome_and_names_what_was_sent_otherwise() -> None:
    model = ConversationModel()
    here, other = _conn(model, "c1"), _conn(model, "c2")
    _ended(model, here, "resp_local", store=False)
    miss = model.predict(other, "resp_local", None)
    sent = "a response.create on c2 lane default (store False)"
    assert judge(miss, "resp_local", "previous_response_not_found", sent) is None
    message = judge(miss, "resp_local", None, sent)
    assert message is not None
    assert "RWS-CACHE-8" in message
    assert sent in message
    assert "a run" in message
    # a code the request may draw for a reason of its own is not the cache's doing
    assert (
        judge(miss, "resp_local", "rate_limit_exceeded", sent, frozenset({"rate_limit_exceeded"}))
        is None
    )

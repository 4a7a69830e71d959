"""A continuation shares its context with the cache entry it continues, and never changes it.

The model's :class:`~reference_impl.model.Context` keeps the canonical JSON byte count and a
SHA-256 state of its items so that neither ``tokens`` nor the ``rws:context`` digest of a long
context re-serialises it (appendix A.1, A.2); these tests hold it to the plain definitions,
and hold the session to its promise that a later run never changes a cached entry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reference_impl import model
from reference_impl.faults import Faults
from reference_impl.model import Context, build_context, canonical_json, context_tokens
from tests.reference_impl.driver import Driver, create, terminal

__all__: list[str] = []

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
items = st.dictionaries(st.text(max_size=5), json_values, max_size=4)


def _plain_bytes(values: list[dict[str, Any]]) -> int:
    return len(canonical_json(values).encode("utf-8", errors="surrogatepass"))


@given(st.lists(items, max_size=5), st.lists(items, max_size=5), st.integers(0, 12))
def test_context_byte_count_and_digest_equal_the_plain_definitions(
    first: list[dict[str, Any]], more: list[dict[str, Any]], prefix: int
) -> None:
    """RWS-MODEL-2, A.1: tokens and digest of a Context are those of its items as a list."""
    context = Context(first).extended(more)
    plain = [*first, *more]
    assert context == plain
    assert context.canonical_bytes() == _plain_bytes(plain)
    assert context.canonical_bytes(prefix) == _plain_bytes(plain[:prefix])
    assert context_tokens(context) == model.tokens(plain)
    assert context_tokens(context, prefix) == model.tokens(plain[:prefix])
    expected = hashlib.sha256(canonical_json(plain).encode("utf-8", "surrogatepass")).hexdigest()
    assert context.digest() == model.context_digest(plain) == expected


def test_extending_a_context_leaves_it_unchanged() -> None:
    """Two continuations of one context (a fork) each see the base, never the other's items."""
    base = Context(model.normalize_input("one"))
    digest = base.digest()
    left = base.extended(model.normalize_input("left"))
    right = base.extended(model.normalize_input("right"))
    assert base.digest() == digest
    assert len(base) == 1
    assert left.digest() == model.context_digest(list(left))
    assert right.digest() == model.context_digest(list(right))
    assert left[1]["content"] == "left"
    assert right[1]["content"] == "right"


def test_build_context_shares_the_previous_items_and_copies_the_new_input() -> None:
    """The carried items are the cache entry's own objects (no copy); the input is copied."""
    previous = build_context((), (), model.normalize_input("one"))
    output = [{"id": "msg_1", "type": "message", "role": "assistant", "content": []}]
    new_input = [{"role": "user", "content": "two"}]
    context = build_context(previous, output, new_input)
    assert context[0] is previous[0]
    assert context[1] is output[0]
    new_input[0]["content"] = "changed"
    assert context[2]["content"] == "two"


def _snapshot(driver: Driver, response_id: str) -> str:
    found = driver.session.cache.find(response_id)
    assert found is not None
    entry = found[1]
    return json.dumps([list(entry.context), list(entry.output)], sort_keys=True)


def test_later_runs_never_change_a_cached_entry() -> None:
    """RWS-CACHE-2, RWS-CACHE-6: continuing and forking an entry leaves its context and
    output exactly as they were, though every continuation shares their objects."""
    driver = Driver()
    first = terminal(driver.turn(create("rws:text length=30\nrws:call name=f arguments={}")))
    parent = first["response"]["id"]
    before = _snapshot(driver, parent)
    # A fork on another lane and a continuation on the entry's own lane, each with output.
    fork = create("rws:reasoning summary=5 text=5\nrws:context", previous_response_id=parent)
    assert terminal(driver.turn({**fork, "stream_id": "b"}))["type"] == "response.completed"
    assert _snapshot(driver, parent) == before
    child = terminal(driver.turn(create("rws:text length=9", previous_response_id=parent)))
    assert child["type"] == "response.completed"
    found = driver.session.cache.find(child["response"]["id"])
    assert found is not None
    # The continuation's context holds the parent's items themselves, unchanged.
    parent_items = json.loads(before)
    assert (
        json.loads(json.dumps(list(found[1].context)))[: len(parent_items[0])] == (parent_items[0])
    )


def test_a_fault_that_edits_events_does_not_reach_the_next_context() -> None:
    """The delta-mismatch fault edits a done event; the cached output keeps the model's text."""
    driver = Driver(faults=Faults({"delta-mismatch"}))
    events = driver.turn(create("rws:text length=12"))
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    assert done["text"].endswith("!")
    found = driver.session.cache.find(terminal(events)["response"]["id"])
    assert found is not None
    assert found[1].output[0]["content"][0]["text"] == model.pattern(12)


_MESSAGES = st.lists(
    st.sampled_from(
        [
            {"type": "message", "role": "user", "content": "u"},
            {"role": "user", "content": "no type"},
            {"type": "message", "role": "assistant", "content": "a"},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
        ]
    ),
    max_size=4,
)


@given(st.lists(_MESSAGES, min_size=1, max_size=5))
def test_latest_user_message_of_a_chain_is_that_of_its_items(chain: list[Any]) -> None:
    """A context remembers where its latest user message is; each continuation looks at its
    new items only, and finds what a search of the whole list finds."""
    context = Context(chain[0])
    plain = list(chain[0])
    for new in chain[1:]:
        assert model.latest_user_text(context) == model.latest_user_text(plain)
        context = context.extended(new)
        plain += new
    assert model.context.latest_user_index(context) == model.context.latest_user_index(plain)
    assert model.latest_user_text(context) == model.latest_user_text(plain)


def test_a_chain_follows_the_directives_of_its_latest_user_message() -> None:
    """The directives a context remembers are those of its latest user message: a
    continuation that sends a new user message is planned by the new directives."""
    driver = Driver()
    first = terminal(driver.turn(create(input="rws:text length=7")))
    text = first["response"]["output"][0]["content"][0]["text"]
    assert len(text) == 7
    same = terminal(
        driver.turn(
            create(
                previous_response_id=first["response"]["id"],
                input=[{"type": "message", "role": "assistant", "content": "noted"}],
            )
        )
    )
    assert len(same["response"]["output"][0]["content"][0]["text"]) == 7
    changed = terminal(
        driver.turn(create(previous_response_id=same["response"]["id"], input="rws:text length=3"))
    )
    assert len(changed["response"]["output"][0]["content"][0]["text"]) == 3

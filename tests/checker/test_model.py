"""Conformance-model checks: rws:context replies (RWS-CACHE-2, RWS-LANE-8), cached_tokens."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from tests.checker.synth import (
    ALL_PROFILES,
    Message,
    Transcript,
    assert_clean,
    assert_only,
    check,
    run_events,
)

__all__: list[str] = []

ASK = "rws:context"


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def canonical(value: Any) -> str:
    # Appendix A.1, written out independently of the checker.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def reply(context: list[Any]) -> str:
    digest = hashlib.sha256(canonical(context).encode("utf-8")).hexdigest()
    return f"context items={len(context)} digest={digest}"


def tokens(value: Any) -> int:
    return math.ceil(len(canonical(value).encode("utf-8")) / 4)


def done_items(events: list[dict[str, Any]]) -> list[Any]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


def two_turns(
    *, lie_digest: bool = False, lie_tokens: bool = False, chain: bool = True
) -> Transcript:
    first_context = [user(ASK)]
    first = run_events([Message(reply(first_context))], rid="resp_1")
    restored = [*first_context, *done_items(first)] if chain else []
    second_context = [*restored, user(ASK)]
    cached = tokens(restored) if chain else 0
    if lie_digest:
        second_context = [user(ASK)]
    second = run_events(
        [Message(reply(second_context))], rid="resp_2", cached_tokens=cached + lie_tokens
    )
    t = Transcript().open().create(input=ASK, store=False).recv(*first)
    if chain:
        t.create(input=ASK, store=False, previous_response_id="resp_1")
    else:
        t.create(input=ASK, store=False)
    return t.recv(*second)


class TestContextReplies:
    """A.1/A.2 recomputed from the transcript."""

    def test_context_and_cached_tokens_of_a_continuation_pass(self) -> None:
        """The continuation's context is the previous context, its output, the new input."""
        report = check(two_turns(), profiles=ALL_PROFILES)
        assert_clean(report, "RWS-CACHE-2", "RWS-MODEL-3", "RWS-LANE-8")

    def test_context_without_history_breaks_cache_2(self) -> None:
        """A continuation whose model saw only the new input."""
        report = check(two_turns(lie_digest=True), profiles=ALL_PROFILES)
        assert "RWS-CACHE-2" in {f.requirement for f in report.findings}
        assert {f.requirement for f in report.findings} <= {"RWS-CACHE-2", "RWS-CACHE-1"}

    def test_wrong_cached_tokens_breaks_model_3(self) -> None:
        """cached_tokens is the token count of the restored context."""
        assert_only(check(two_turns(lie_tokens=True), profiles=ALL_PROFILES), "RWS-MODEL-3")

    def test_new_conversation_on_a_used_lane_has_no_history(self) -> None:
        """Reusing the lane without previous_response_id starts fresh (RWS-LANE-8)."""
        first_context = [user(ASK)]
        first = run_events([Message(reply(first_context))], rid="resp_1")
        # The server wrongly continues the lane's conversation.
        leaked = [*first_context, *done_items(first), user(ASK)]
        second = run_events([Message(reply(leaked))], rid="resp_2")
        t = Transcript().open().create(input=ASK).recv(*first).create(input=ASK).recv(*second)
        report = check(t, profiles=ALL_PROFILES)
        assert {f.requirement for f in report.findings} == {"RWS-LANE-8", "RWS-MODEL-2"}

    def test_model_checks_need_the_conformance_model_profile(self) -> None:
        """Without the profile, replies are not judged."""
        report = check(two_turns(lie_digest=True))
        assert_clean(report)
        assert "RWS-MODEL-3" not in report.exercised

"""A run repeats for a delta what the last one like it did (conformance/checker/run.py): the
same judgement as taking every delta the long way.

The checker's transcript of ``python -m conformance.checker.bench`` (runs on two interleaved
lanes) is broken in many ways, one per variant - a delta with another item id, output index
or content index, a repeated or missing sequence number, a delta turned into another type, an
event moved, a delta after its part ended - and every variant is judged twice: by the checker
as it is, and by one whose rules name no streaming type (every delta taken the long way). The
two reports must be equal, finding for finding and count for count.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from conformance.checker import Checker, CheckerConfig
from conformance.checker.bench import build_transcript
from conformance.checker.rules import load_rules
from conformance.transcript import Record

_CONFIG = CheckerConfig.make(profiles=("core", "multiplex"))
_DELTA = "response.output_text.delta"

Mutation = Callable[[dict[str, Any], random.Random], None]


def _set(field: str, value: Any) -> Mutation:
    return lambda event, _rng: event.__setitem__(field, value)


def _drop(field: str) -> Mutation:
    return lambda event, _rng: event.pop(field, None)


_MUTATIONS: dict[str, Mutation] = {
    "other-item-id": _set("item_id", "msg_other"),
    "other-output-index": _set("output_index", 1),
    "other-content-index": _set("content_index", 1),
    # Not a violation (a field no rule reads), but another routing row's key: the delta must
    # not be taken as the last one like it.
    "summary-index-added": _set("summary_index", 0),
    "content-index-dropped": _drop("content_index"),
    "list-as-index": _set("output_index", [0]),
    "sequence-repeated": lambda e, _r: e.__setitem__("sequence_number", e["sequence_number"] - 1),
    "sequence-dropped": _drop("sequence_number"),
    "stream-id-dropped": _drop("stream_id"),
    "delta-not-text": _set("delta", 7),
    "refusal-delta": _set("type", "response.refusal.delta"),
}


def _texts(records: list[Record]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, json.loads(r.text or ""))
        for i, r in enumerate(records)
        if r.kind == "text" and r.dir == "s2c"
    ]


def _variant(records: list[Record], name: str, seed: int) -> list[Record]:
    """The transcript with one delta (after a few of its part) broken by ``name``."""
    rng = random.Random(seed)
    deltas = [(i, e) for i, e in _texts(records) if e["type"] == _DELTA]
    index, event = deltas[rng.randrange(3, len(deltas))]
    _MUTATIONS[name](event, rng)
    out = list(records)
    out[index] = dataclasses.replace(records[index], text=json.dumps(event))
    return out


def _moved(records: list[Record], seed: int) -> list[Record]:
    """The transcript with one server event moved a few places later (a delta after its
    part's end, a part's end before its deltas...)."""
    rng = random.Random(seed)
    texts = [i for i, _ in _texts(records)]
    at = rng.randrange(len(texts) - 8)
    src, dst = texts[at], texts[at + rng.randrange(1, 8)]
    out = list(records)
    out.insert(dst, out.pop(src))
    return [dataclasses.replace(r, index=i) for i, r in enumerate(out)]


def _reports(records: list[Record]) -> tuple[dict[str, Any], dict[str, Any]]:
    streamed = Checker(_CONFIG).feed_all(records)
    rules = dataclasses.replace(load_rules(), streaming_fields={})
    long_way = Checker(_CONFIG, rules=rules).feed_all(records)
    return streamed.to_dict(), long_way.to_dict()


@pytest.fixture(scope="module")
def transcript() -> list[Record]:
    return build_transcript(events=600)


@pytest.mark.parametrize("name", sorted(_MUTATIONS))
@pytest.mark.parametrize("seed", range(4))
def test_broken_delta_is_judged_as_the_long_way_judges_it(
    transcript: list[Record], name: str, seed: int
) -> None:
    streamed, long_way = _reports(_variant(transcript, name, seed))
    assert streamed == long_way
    if name != "summary-index-added":
        assert streamed["findings"], "the variant breaks a requirement"


@pytest.mark.parametrize("seed", range(12))
def test_moved_event_is_judged_as_the_long_way_judges_it(
    transcript: list[Record], seed: int
) -> None:
    streamed, long_way = _reports(_moved(transcript, seed))
    assert streamed == long_way


def test_correct_transcript_has_no_finding_either_way(transcript: list[Record]) -> None:
    streamed, long_way = _reports(transcript)
    assert streamed == long_way
    assert streamed["findings"] == []
    assert streamed["exercised"]["RWS-DELTA-1"] > 0

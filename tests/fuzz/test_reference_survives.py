"""The reference server survives the ``ci`` profile; a crashing fault is found and shrunk.

Slow (about a minute on two cores): 2,000 stateless examples and 200 stateful sessions over
loopback against a reference server subprocess, then a fuzzing run against the
``crash-on-deep-input`` fault switch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.checker import Checker, CheckerConfig
from conformance.fuzz.client import Target
from conformance.fuzz.profiles import BUDGETS
from conformance.fuzz.result import UNSTABLE
from conformance.fuzz.stateful import run_stateful
from conformance.fuzz.stateless import run_stateless
from conformance.harness.spawn import spawn_reference
from conformance.transcript import read_jsonl
from reference_impl.validation import MAX_DEPTH
from tests.fuzz.conftest import target_for
from tests.fuzz.known import KNOWN_FINDINGS

__all__: list[str] = []

pytestmark = pytest.mark.slow

KNOWN = tuple(KNOWN_FINDINGS.values())


def test_reference_server_survives_ci_profile_stateless(
    reference_target: Target, tmp_path: Path
) -> None:
    report = run_stateless(reference_target, "ci", tmp_path, known=KNOWN)
    assert report.ok, report.summary()
    assert report.examples >= BUDGETS["ci"].stateless_examples >= 2000
    print(report.summary())


def test_reference_server_survives_ci_profile_stateful(
    reference_target: Target, tmp_path: Path
) -> None:
    report = run_stateful(reference_target, "ci", tmp_path, known=KNOWN)
    assert report.ok, report.summary()
    assert report.examples >= BUDGETS["ci"].stateful_sessions >= 200
    print(report.summary())


def _depth(value: object) -> int:
    """Nesting depth, counting the value itself as level 1 (a scalar is 1)."""
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 1


def test_fuzzer_finds_and_shrinks_the_crash_on_deep_input_fault(tmp_path: Path) -> None:
    with spawn_reference(["--fault", "crash-on-deep-input", "--no-steering"]) as server:
        target = target_for(server.url, server.api_keys[0], server.api_keys[1])
        report = run_stateless(target, "ci", tmp_path, known=KNOWN)
    assert not report.ok
    assert report.failure is not None
    assert "closed the connection (code 1011)" in report.failure
    assert report.transcript is not None
    assert report.transcript.exists()
    records = list(read_jsonl(report.transcript))
    # Shrunk to open, the one deep create, the server's close.
    assert [r.kind for r in records] == ["open", "text", "close"]
    sent = json.loads(records[1].text or "")
    # Shrunk to the shallowest crashing input: one level past the server's limit.
    assert max(_depth(v) for k, v in sent.items() if k != "type") == MAX_DEPTH + 1
    assert records[2].code == 1011
    # The transcript replays: the checker alone reports the unanswered request.
    checker = Checker(CheckerConfig.make(profiles=target.profiles, roles=("server",)))
    replay = checker.feed_all(records)
    assert "RWS-CREATE-12" in {f.requirement for f in replay.findings if replay.failed}


@pytest.mark.parametrize(
    ("fault", "requirement"),
    [
        # Concurrent runs of one lane show on the wire either as overlapping events or, when
        # the server mixes their inputs, as a run answering with another run's context.
        ("lane-overlap", "RWS-LANE-(1|8)"),
        # A context without the previous output shows in the run's context digest
        # (RWS-CACHE-2) or, when a response's usage is judged first, in the cached tokens it
        # counts over that shorter context (RWS-MODEL-3), whichever the session meets first.
        ("context-drop-output", "RWS-CACHE-2|RWS-MODEL-3"),
        # A retry served from an entry that should have been evicted: a cache finding, or the
        # cached tokens it reports for an entry it should no longer have (RWS-MODEL-3).
        ("no-evict", "RWS-CACHE-|RWS-MODEL-3"),
        ("cross-key", "RWS-LIMIT-5"),
    ],
)
def test_stateful_fuzzer_finds_session_level_faults(
    fault: str, requirement: str, tmp_path: Path
) -> None:
    """Faults only a sequence of requests shows: overlapping runs on one lane (the pipeline
    rule), a continuation whose context lacks the previous output (context digests), and
    a retry served from an entry a failed continuation should have evicted, a stored
    response served to another API key."""
    with spawn_reference(["--fault", fault, "--no-steering"]) as server:
        target = target_for(server.url, server.api_keys[0], server.api_keys[1])
        report = run_stateful(target, "ci", tmp_path, known=KNOWN)
    assert not report.ok
    assert report.failure is not None
    assert re.search(requirement, report.failure)
    assert report.transcript is not None
    # Small, not minimal: a session-level fault needs several whole runs (lane-overlap two
    # pipelined runs of a dozen events each, plus their requests and the connection records),
    # and Hypothesis shrinks the rules it ran, not the events inside a run.
    # A fault that depends on timing (lane-overlap) may not replay the same way; Hypothesis
    # then cannot shrink, and the report says so and keeps the smallest failure it saw.
    bound = 400 if report.falsifying is not None and UNSTABLE in report.falsifying else 120
    assert len(list(read_jsonl(report.transcript))) <= bound

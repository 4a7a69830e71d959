"""The stateful fuzzer against a server that runs its own model (issue 11, item 5).

The reference server's ``freeform-1`` ignores ``rws:`` directives and answers with text of
its own, as a real model does: the fuzzer then judges only the kind of each continuation's
outcome (a run, or ``previous_response_not_found``) from the cache rule table. A correct
server passes; one that serves ``store: false`` entries to other connections is found and
the failing session shrunk, with a progress line for each phase.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conformance.fuzz.client import Target
from conformance.fuzz.stateful import run_stateful
from conformance.harness.spawn import spawn_reference
from tests.fuzz.conftest import target_for
from tests.fuzz.known import KNOWN_FINDINGS

__all__: list[str] = []

pytestmark = pytest.mark.slow

MODEL = "freeform-1"
KNOWN = tuple(KNOWN_FINDINGS.values())


def _any_model(target: Target) -> Target:
    # What a server running its own model declares: no conformance-model profile.
    return dataclasses.replace(
        target, model=MODEL, profiles=target.profiles - {"conformance-model"}
    )


def test_stateful_fuzzer_with_any_model_passes_the_reference(tmp_path: Path) -> None:
    with spawn_reference(["--no-steering"]) as server:
        target = _any_model(target_for(server.url, server.api_keys[0], server.api_keys[1]))
        report = run_stateful(target, "ci", tmp_path, max_sessions=25, seed=3, known=KNOWN)
    assert report.ok, report.summary()
    assert report.examples >= 25


def test_stateful_fuzzer_with_any_model_finds_and_shrinks_a_shared_cache(tmp_path: Path) -> None:
    lines: list[str] = []
    with spawn_reference(["--fault", "shared-cache", "--no-steering"]) as server:
        target = _any_model(target_for(server.url, server.api_keys[0], server.api_keys[1]))
        report = run_stateful(target, "ci", tmp_path, known=KNOWN, report=lines.append)
    assert not report.ok
    assert report.failure is not None
    # RWS-CACHE-8 (and RWS-CACHE-4 for a store:false response that did not complete): a
    # store:false response of another connection must be previous_response_not_found.
    assert "RWS-CACHE-8" in report.failure or "RWS-CACHE-4" in report.failure, report.failure
    assert report.transcript is not None
    assert report.records <= 80, report.summary()
    # a long run says what it does: the failure found, then the replay of the smallest one
    assert any("failed" in line and "shrinking it" in line for line in lines), lines
    assert any("replaying the smallest failing session" in line for line in lines), lines

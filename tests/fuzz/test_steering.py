"""The stateful fuzzer against a server with the steering profile (issue 15).

The machine steers runs that last, waits for every steer's reply, the steered run's end and
its successor, and its cache model follows the successor (the successor, not the steered
run, becomes the lane's entry). A correct server passes with both models; a server whose
successor drops accepted input, or names no previous response, is found.
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

KNOWN = tuple(KNOWN_FINDINGS.values())


def _steering(server_url: str, keys: tuple[str, str], model: str = "conformance-1") -> Target:
    target = target_for(server_url, keys[0], keys[1])
    profiles = target.profiles | {"steering"}
    if model != "conformance-1":
        profiles -= {"conformance-model"}
    return dataclasses.replace(target, model=model, profiles=profiles)


@pytest.mark.parametrize("model", ["conformance-1", "freeform-1"])
def test_stateful_fuzzer_steers_the_reference_cleanly(model: str, tmp_path: Path) -> None:
    with spawn_reference() as server:
        target = _steering(server.url, server.api_keys, model)
        report = run_stateful(target, "ci", tmp_path, max_sessions=40, seed=5, known=KNOWN)
    assert report.ok, report.summary()
    assert report.examples >= 40


@pytest.mark.parametrize(
    ("fault", "finding"),
    [
        ("successor-drops-input", "RWS-STEER-4"),
        ("steer-double-reply", "RWS-STEER-2"),
    ],
)
def test_stateful_fuzzer_finds_a_broken_successor(fault: str, finding: str, tmp_path: Path) -> None:
    with spawn_reference(["--fault", fault]) as server:
        target = _steering(server.url, server.api_keys)
        report = run_stateful(target, "ci", tmp_path, max_sessions=200, seed=5, known=KNOWN)
    assert not report.ok
    assert report.failure is not None
    assert finding in report.failure, report.failure
    assert report.transcript is not None

"""Every client check can fail: each broken client is caught by the scenario that targets it.

Each row names a broken behaviour (tests/clientsuite/broken_clients/broken.py), the scenario
that must catch it and the requirement whose verdict must then be FAILED (MUST, MUST NOT) or
WARNING (SHOULD, SHOULD NOT). The same scenarios pass with the raw adapter
(test_shipped_adapters.py), so the verdict comes from the broken behaviour alone.
"""

from __future__ import annotations

import pytest

from conformance.results import Verdict
from tests.clientsuite.broken_clients.broken import MODES
from tests.clientsuite.conftest import RunBroken

F, W = Verdict.FAILED, Verdict.WARNING

CASES: list[tuple[str, str, str, Verdict]] = [
    ("stale-previous-id", "resume-not-found", "RWS-CLIENT-2", F),
    ("drop-history", "resume-not-found", "RWS-CLIENT-2", F),
    ("crash-on-unknown", "tolerate-unknown", "RWS-EVENT-3", F),
    ("crash-on-untyped-error", "error-mid-chain", "RWS-ERR-4", F),
    ("ignore-request-errors", "error-mid-chain", "RWS-ERR-8", F),
    ("reconnect-always", "no-reconnect-1008", "RWS-ERR-9", W),
    ("reconnect-always", "no-reconnect-1005", "RWS-ERR-7", W),
    ("never-reconnect", "reconnect-store-false", "RWS-CLIENT-5", F),
    ("stale-id-new-connection", "reconnect-store-false", "RWS-CLIENT-5", F),
    ("stale-id-new-connection", "connection-age-limit", "RWS-CLIENT-5", F),
    ("no-backoff", "reconnect-backoff", "RWS-ERR-7", W),
    ("background", "incremental-input", "RWS-CREATE-2", F),
    ("stream", "incremental-input", "RWS-CREATE-13", W),
    ("null-stream-id", "incremental-input", "RWS-CREATE-8", F),
    ("wrapped", "incremental-input", "RWS-CREATE-1", F),
    ("binary-frame", "incremental-input", "RWS-TRANS-6", F),
    ("second-create", "incremental-input", "RWS-CLIENT-3", F),
    ("full-resend", "incremental-input", "RWS-CLIENT-1", W),
    ("prev-and-full", "incremental-input", "RWS-CLIENT-1", W),
    ("wait-for-completed", "error-mid-run", "RWS-CLIENT-4", F),
    ("no-pong", "slow-stream", "RWS-CLIENT-9", F),
    ("small-max-size", "large-messages", "RWS-TRANS-10", W),
    ("assemble-from-added", "bursty-stream", "RWS-CLIENT-7", W),
    ("misroute", "lanes-interleaved", "RWS-CLIENT-6", F),
]


def test_every_broken_mode_is_exercised() -> None:
    assert {mode for mode, *_ in CASES} == set(MODES)


@pytest.mark.parametrize(
    ("mode", "scenario", "requirement", "verdict"),
    CASES,
    ids=[f"{m}-{s}" for m, s, *_ in CASES],
)
def test_broken_client_fails_the_targeted_requirement(
    run_broken: RunBroken, mode: str, scenario: str, requirement: str, verdict: Verdict
) -> None:
    result = run_broken(mode, scenario)
    assert "harness_errors" not in result.details["observations"], result.message
    assert result.requirement_verdicts.get(requirement) is verdict, (
        f"{requirement}: {result.requirement_verdicts.get(requirement)} / {result.message}"
    )
    assert requirement in result.message
    # The check as a whole is at least as bad as the requirement it caught.
    assert result.verdict in ((F,) if verdict is F else (F, W))

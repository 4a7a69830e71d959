"""Test helper: the proof matrix, read from the repository, and how a row is judged caught.

A row is caught when the check concluded the row's verdict on the row's requirement (one of
its own), and reported evidence of a violation of it whose message holds the row's finding.
Evidence that is no violation ("not exercised", a refused prerequisite) never counts.
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance.docsgen.proof_matrix import Matrix, ProofRow, load_matrix
from conformance.results import CheckResult

__all__ = ["DOCS", "matrix", "miss"]

DOCS = Path(__file__).resolve().parents[3] / "docs"


def matrix() -> Matrix:
    """The proof matrix of this checkout."""
    return load_matrix(DOCS)


# The client judge joins its messages with "; ", each starting with its requirement.
_CLIENT_PARTS = re.compile(r"; (?=RWS-[A-Z]+-\d+: |transcript: )")


def miss(row: ProofRow, check: CheckResult) -> str | None:
    """Why ``check`` does not catch ``row`` (None when it does)."""
    concluded = check.requirement_verdicts.get(row.requirement)
    if concluded is None or concluded.value != row.verdict:
        return f"concluded {concluded} on {row.requirement}, not {row.verdict}: {check.message}"
    if row.requirement not in check.requirements:
        return f"{row.requirement} is not a requirement of {check.id}"
    if row.suite == "client":
        parts = _CLIENT_PARTS.split(check.message)
        found = [p for p in parts if p.startswith(f"{row.requirement}: ") and row.finding in p]
    else:
        found = [
            e.message
            for e in check.evidence
            if e.requirement == row.requirement
            and e.violation
            and e.verdict.value == row.verdict
            and row.finding in e.message
        ]
    if not found:
        return f"no finding {row.finding!r} for {row.requirement}: {check.message}"
    return None

"""Findings, the checker's report, and the recorder that collects both.

A :class:`Finding` is one observed deviation: the requirement it breaks, a verdict taken from
the requirement's level in the registry (MUST/MUST NOT -> FAILED, SHOULD/SHOULD NOT ->
WARNING, MAY -> INFORMATIONAL), a message "expected ... / actual ...", the connection and the
transcript records involved. ``exercised`` counts how often each requirement was evaluated, so
that a suite may call a requirement PASSED only when it was exercised without findings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.requirements import Requirement
from conformance.results import Verdict

__all__ = ["LEVEL_VERDICTS", "Finding", "Recorder", "Report"]

LEVEL_VERDICTS: Mapping[str, Verdict] = {
    "MUST": Verdict.FAILED,
    "MUST NOT": Verdict.FAILED,
    "SHOULD": Verdict.WARNING,
    "SHOULD NOT": Verdict.WARNING,
    "MAY": Verdict.INFORMATIONAL,
}
_SEVERITY = {Verdict.FAILED: 3, Verdict.WARNING: 2, Verdict.INFORMATIONAL: 1, Verdict.PASSED: 0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One deviation (or, for INFORMATIONAL, one observation of open behaviour).

    ``requirement`` is None for a problem of the transcript itself (a malformed line).
    """

    requirement: str | None
    verdict: Verdict
    message: str
    conn: str | None
    records: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "requirement": self.requirement,
            "verdict": self.verdict.value,
            "message": self.message,
            "conn": self.conn,
            "records": list(self.records),
        }


@dataclass(frozen=True)
class Report:
    """What the checker concluded about a whole transcript."""

    findings: tuple[Finding, ...]
    exercised: Mapping[str, int]
    records: int
    # Requirements the configuration excluded (undeclared profile or unjudged role).
    excluded: frozenset[str] = field(default_factory=frozenset)

    @property
    def failed(self) -> bool:
        """Whether any finding is FAILED."""
        return any(f.verdict is Verdict.FAILED for f in self.findings)

    def verdicts(self) -> dict[str, Verdict]:
        """Per requirement: the worst finding's verdict, or PASSED when exercised cleanly."""
        out: dict[str, Verdict] = {rid: Verdict.PASSED for rid, n in self.exercised.items() if n}
        for finding in self.findings:
            if finding.requirement is None:
                continue
            current = out.get(finding.requirement, Verdict.PASSED)
            if _SEVERITY[finding.verdict] > _SEVERITY[current]:
                out[finding.requirement] = finding.verdict
        return out

    def findings_for(self, requirement: str) -> list[Finding]:
        """The findings about one requirement."""
        return [f for f in self.findings if f.requirement == requirement]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "records": self.records,
            "failed": self.failed,
            "findings": [f.to_dict() for f in self.findings],
            "exercised": dict(sorted(self.exercised.items())),
            "verdicts": {k: v.value for k, v in sorted(self.verdicts().items())},
        }


class Recorder:
    """Collects findings and exercise counts, for the requirements the configuration judges.

    A requirement is judged when it is in the registry, its profile is declared and its role
    is one of the roles under test (server requirements judge server-to-client traffic, client
    requirements client-to-server traffic).
    """

    def __init__(
        self,
        requirements: Mapping[str, Requirement],
        profiles: Iterable[str],
        roles: Iterable[str],
    ) -> None:
        profile_set = frozenset(profiles)
        role_set = frozenset(roles)
        self._verdicts: dict[str, Verdict] = {}
        excluded: set[str] = set()
        for rid, req in requirements.items():
            if req.status != "active":
                continue
            if req.profile in profile_set and req.role in role_set:
                self._verdicts[rid] = LEVEL_VERDICTS.get(req.level, Verdict.INFORMATIONAL)
            else:
                excluded.add(rid)
        self.excluded = frozenset(excluded)
        self.counts: dict[str, int] = {}
        # The hot path only appends what it evaluated; the counting happens in compact().
        # A list's own append is a call into C, where a Python method updating a dict costs
        # several times as much, and the checker evaluates several requirements per event.
        self._tuples: list[tuple[str, ...]] = []
        self._singles: list[str] = []
        self.exercise: Callable[[tuple[str, ...]], None] = self._tuples.append
        """Count one evaluation of each requirement of the tuple."""
        self.exercise1: Callable[[str], None] = self._singles.append
        """Count one evaluation of one requirement."""
        self._reported: set[str] = set()
        self.findings: list[Finding] = []

    def judged(self, requirement: str) -> bool:
        """Whether this requirement is judged under the configuration."""
        return requirement in self._verdicts

    def compact(self) -> None:
        """Fold what was appended since the last call into the counts (the checker calls it
        every few thousand records, so that what waits to be counted stays bounded)."""
        counts = self.counts
        verdicts = self._verdicts
        if self._singles:
            for requirement, n in Counter(self._singles).items():
                if requirement in verdicts:
                    counts[requirement] = counts.get(requirement, 0) + n
            self._singles.clear()
        if self._tuples:
            for requirements, n in Counter(self._tuples).items():
                for requirement in requirements:
                    if requirement in verdicts:
                        counts[requirement] = counts.get(requirement, 0) + n
            # Cleared in place: the checker's executors hold this list's bound append.
            self._tuples.clear()

    def report(
        self,
        requirements: Iterable[str],
        message: str,
        conn: str | None,
        records: Iterable[int],
    ) -> None:
        """Record a deviation against each judged requirement.

        A reported requirement counts as exercised at least once, so that a check that only
        reports (an event where none may be) still shows up in ``exercised``.
        """
        recs = tuple(sorted(set(records)))
        for rid in requirements:
            verdict = self._verdicts.get(rid)
            if verdict is None:
                continue
            self._reported.add(rid)
            self.findings.append(Finding(rid, verdict, message, conn, recs))

    def transcript_problem(self, message: str, conn: str | None, records: Iterable[int]) -> None:
        """A problem of the transcript itself (no requirement): always FAILED."""
        self.findings.append(Finding(None, Verdict.FAILED, message, conn, tuple(records)))

    def build(self, records: int) -> Report:
        """The final report."""
        self.compact()
        for requirement in self._reported:
            self.counts[requirement] = max(1, self.counts.get(requirement, 0))
        return Report(tuple(self.findings), dict(self.counts), records, self.excluded)

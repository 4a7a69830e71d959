"""Result types of a conformance run, and the one verdict model every suite and report uses.

One ``CheckResult`` per check, one ``RunResult`` per run. A check's ``verdict`` is about its
own requirements (``requirements``). What it concluded per requirement is in
``requirement_verdicts``; each conclusion that is not a pass rests on :class:`Evidence`.

Root cause first (issue 12, docs/development.md "Verdicts"):

* a violation of *another* requirement that a check observes on the way is evidence about that
  requirement; it is reported once for the whole run, under that requirement
  (:func:`violations`), and does not make the observing check FAILED;
* a step of a scenario *declares* what it relies on (``relies_on``); evidence gathered after
  such a step carries those requirements. When one of them is violated somewhere in the run,
  the conclusion could not be judged: the requirement is BLOCKED by it (:func:`resolve`), not
  FAILED. A requirement is never blocked by a step that relies on that very requirement;
* what could not be tested still fails: a blocked requirement fails the run through its
  blocker, and a conclusion that relied on nothing violated stays FAILED.

The server suite's runner, the client suite's judge, the pytest plugin and every report
writer use these functions, so that they never disagree.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHECK_SEVERITY",
    "Blocked",
    "CheckResult",
    "Evidence",
    "RunResult",
    "Verdict",
    "Violation",
    "blocked",
    "check_verdict",
    "resolve",
    "untestable",
    "violated_requirements",
    "violations",
    "worst",
]


class Verdict(enum.Enum):
    """The verdict of a check, or of a check about one requirement (docs/development.md)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    WARNING = "WARNING"
    INFORMATIONAL = "INFORMATIONAL"
    SKIPPED = "SKIPPED"
    # Could not be judged: a requirement it relies on was violated (see ``blocked_by``).
    BLOCKED = "BLOCKED"


#: How several conclusions about one check combine: the worst wins. BLOCKED ranks below
#: FAILED (it fails the run only through its blocker) and above WARNING (a MUST or SHOULD
#: was not judged at all).
CHECK_SEVERITY: Mapping[Verdict, int] = {
    Verdict.FAILED: 5,
    Verdict.BLOCKED: 4,
    Verdict.WARNING: 3,
    Verdict.INFORMATIONAL: 2,
    Verdict.PASSED: 1,
    Verdict.SKIPPED: 0,
}

_BROKEN = (Verdict.FAILED, Verdict.WARNING)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe of ``verdicts`` (PASSED when there are none)."""
    return max(verdicts, key=CHECK_SEVERITY.__getitem__, default=Verdict.PASSED)


@dataclass(frozen=True)
class Evidence:
    """Why a check concluded something other than a pass about one requirement."""

    requirement: str
    verdict: Verdict  # FAILED, WARNING or INFORMATIONAL (the requirement's level decides)
    message: str  # what was sent and what came back
    records: tuple[int, ...] = ()  # indexes into the check's wire_log where it was seen
    # The requirements the steps before this conclusion declared they rely on.
    relies_on: tuple[str, ...] = ()
    # False when the check could not test the requirement (a prerequisite was refused, the
    # transcript never exercised it): no violation was observed, yet the verdict is FAILED.
    violation: bool = True


@dataclass(frozen=True)
class CheckResult:
    """What one check did and concluded."""

    id: str  # stable check id, e.g. "cache.store-false-miss-after-reconnect" (never renamed)
    title: str  # one line, what the check does
    requirements: tuple[str, ...]  # requirement IDs the check tests (its own)
    verdict: Verdict  # about its own requirements only
    duration_s: float
    message: str  # expected vs actual ("" when PASSED)
    wire_log: tuple[dict[str, Any], ...]  # the transcript records of this check
    # Per requirement, what this check concluded: its own requirements, and others it saw
    # broken on the way (those never decide ``verdict``).
    requirement_verdicts: Mapping[str, Verdict]
    details: Mapping[str, Any]  # free-form data (e.g. INFORMATIONAL observations, timings)
    evidence: tuple[Evidence, ...] = ()
    # Per BLOCKED requirement: the violated requirements it relied on (set by resolve()).
    blocked_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def observed(self) -> dict[str, Verdict]:
        """Requirements other than its own that this check concluded about."""
        return {r: v for r, v in self.requirement_verdicts.items() if r not in self.requirements}


@dataclass(frozen=True)
class RunResult:
    """A whole run: every check, when it started, how long it took, and what it ran against."""

    checks: tuple[CheckResult, ...]
    started_at: str  # ISO 8601
    duration_s: float
    target: Mapping[str, Any]  # server url, model, declared profiles and parameters, suite version


def check_verdict(
    requirements: Sequence[str], requirement_verdicts: Mapping[str, Verdict]
) -> Verdict:
    """A check's verdict: the worst of its own requirements' verdicts.

    A check that concluded nothing about its own requirements (a client check judged on
    findings only) takes the worst of what it concluded.
    """
    own = [requirement_verdicts[r] for r in requirements if r in requirement_verdicts]
    return worst(own or requirement_verdicts.values())


def _standing(checks: Iterable[CheckResult]) -> set[str]:
    """Requirements with evidence of a violation that relied on nothing."""
    return {
        e.requirement
        for c in checks
        for e in c.evidence
        if e.violation and e.verdict in _BROKEN and not e.relies_on
    }


def violated_requirements(checks: Iterable[CheckResult]) -> set[str]:
    """Every requirement the run saw violated: evidence that relied on nothing, or only on
    requirements that no evidence-without-reliance shows violated."""
    checks = tuple(checks)
    standing = _standing(checks)
    found = set(standing)
    for check in checks:
        for e in check.evidence:
            if e.violation and e.verdict in _BROKEN and not (set(e.relies_on) & standing):
                found.add(e.requirement)
    return found


def _blockers(e: Evidence, violated: set[str]) -> set[str]:
    return (set(e.relies_on) & violated) - {e.requirement}


def resolve(checks: Sequence[CheckResult]) -> tuple[CheckResult, ...]:
    """Mark as BLOCKED every conclusion whose evidence all relied on a violated requirement,
    and recompute each check's verdict from its own requirements.

    Idempotent: the pytest plugin resolves as checks finish and again over the whole run.
    """
    violated = violated_requirements(checks)
    out: list[CheckResult] = []
    for check in checks:
        verdicts = dict(check.requirement_verdicts)
        blocked_by: dict[str, tuple[str, ...]] = {}
        for requirement, verdict in check.requirement_verdicts.items():
            if verdict not in (*_BROKEN, Verdict.BLOCKED):
                continue
            found = [
                e for e in check.evidence if e.requirement == requirement and e.verdict in _BROKEN
            ]
            if not found:
                continue
            blockers = [_blockers(e, violated) for e in found]
            if all(blockers):
                verdicts[requirement] = Verdict.BLOCKED
                blocked_by[requirement] = tuple(sorted(set().union(*blockers)))
            else:
                verdicts[requirement] = worst(e.verdict for e in found)
        if verdicts == dict(check.requirement_verdicts) and blocked_by == dict(check.blocked_by):
            out.append(check)
            continue
        if check.verdict is Verdict.SKIPPED:
            verdict = Verdict.SKIPPED
        else:
            verdict = check_verdict(check.requirements, verdicts)
        out.append(
            dataclasses.replace(
                check, requirement_verdicts=verdicts, blocked_by=blocked_by, verdict=verdict
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Violation:
    """One requirement the run saw violated: its first evidence and every check that saw it."""

    requirement: str
    verdict: Verdict  # FAILED (a MUST) or WARNING (a SHOULD)
    check: str  # the check of the first evidence
    message: str
    records: tuple[int, ...]
    seen_in: tuple[str, ...]  # every check where it was seen, in run order
    own_in: tuple[str, ...]  # the checks among them that test it as their own requirement


def violations(checks: Sequence[CheckResult]) -> list[Violation]:
    """The violated requirements of a resolved run, in the order they were first seen (run
    order), MUST before SHOULD; each once with its first evidence."""
    violated = violated_requirements(checks)
    first: dict[str, tuple[CheckResult, Evidence]] = {}
    seen: dict[str, list[str]] = {}
    level: dict[str, Verdict] = {}
    for check in checks:
        for e in check.evidence:
            if not e.violation or e.verdict not in _BROKEN or _blockers(e, violated):
                continue
            if check.requirement_verdicts.get(e.requirement) is Verdict.BLOCKED:
                continue
            first.setdefault(e.requirement, (check, e))
            if check.id not in seen.setdefault(e.requirement, []):
                seen[e.requirement].append(check.id)
            level[e.requirement] = worst((level.get(e.requirement, e.verdict), e.verdict))
    out = [
        Violation(
            requirement=rid,
            verdict=level[rid],
            check=check.id,
            message=e.message,
            records=e.records,
            seen_in=tuple(seen[rid]),
            own_in=tuple(c.id for c in checks if c.id in seen[rid] and rid in c.requirements),
        )
        for rid, (check, e) in first.items()
    ]
    return sorted(out, key=lambda v: v.verdict is not Verdict.FAILED)


@dataclass(frozen=True)
class Blocked:
    """A requirement no check could judge because a requirement it relies on was violated."""

    requirement: str
    blocked_by: tuple[str, ...]
    checks: tuple[str, ...]


def blocked(checks: Sequence[CheckResult]) -> list[Blocked]:
    """The requirements some check reports BLOCKED and no check reports FAILED or WARNING."""
    broken = {r for c in checks for r, v in c.requirement_verdicts.items() if v in _BROKEN}
    by: dict[str, set[str]] = {}
    where: dict[str, list[str]] = {}
    for check in checks:
        for requirement, blockers in check.blocked_by.items():
            if requirement in broken:
                continue
            by.setdefault(requirement, set()).update(blockers)
            where.setdefault(requirement, []).append(check.id)
    return [Blocked(r, tuple(sorted(by[r])), tuple(where[r])) for r in by]


def untestable(checks: Sequence[CheckResult]) -> dict[str, list[tuple[str, str]]]:
    """Own requirements a check FAILED without any violation: requirement -> (check, why)."""
    violated = {v.requirement for v in violations(checks)}
    out: dict[str, list[tuple[str, str]]] = {}
    for check in checks:
        for requirement in check.requirements:
            if check.requirement_verdicts.get(requirement) is not Verdict.FAILED:
                continue
            if requirement in violated:
                continue
            why = next(
                (e.message for e in check.evidence if e.requirement == requirement),
                check.message.splitlines()[0] if check.message else "",
            )
            out.setdefault(requirement, []).append((check.id, why))
    return out

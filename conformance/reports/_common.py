"""What every report format shares: a check's area and level, the per-requirement summary,
counting, and turning free-form result data into JSON.

The report writers differ only in presentation; everything they decide (which area a check
belongs to, how strong its level is, how several checks combine into one verdict about a
requirement) is decided here once, so that report.json, junit.xml, report.html and the
console never disagree.
"""

from __future__ import annotations

import base64
import enum
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from conformance.baseline import StaleEntry, expected_failure_reason, is_unexpected_failure
from conformance.requirements import Requirement, load_requirements
from conformance.results import CheckResult, RunResult, Verdict

__all__ = [
    "LEVEL_ORDER",
    "VERDICT_MEANING",
    "VERDICT_ORDER",
    "RequirementSummary",
    "area_of",
    "check_level",
    "count_verdicts",
    "level_class",
    "load_registry_or_empty",
    "ordered_for_people",
    "requirement_summaries",
    "stale_check_ids",
    "to_jsonable",
]

# Report columns, strongest level first; MUST NOT counts as MUST and SHOULD NOT as SHOULD
# because they carry the same verdict weight (FAILED versus WARNING).
LEVEL_ORDER: tuple[str, ...] = ("MUST", "SHOULD", "MAY", "-")
# BLOCKED comes last so that the first five keep the order of the summary line consoles and
# scripts (conformance/bench) already read.
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.FAILED,
    Verdict.WARNING,
    Verdict.PASSED,
    Verdict.INFORMATIONAL,
    Verdict.SKIPPED,
    Verdict.BLOCKED,
)
# What each verdict means, for the legends of the console and report.html.
VERDICT_MEANING: dict[Verdict, str] = {
    Verdict.FAILED: "a MUST was violated, or could not be tested (the run fails)",
    Verdict.BLOCKED: "could not be judged: a requirement it relies on was violated "
    "(fails the run through that requirement)",
    Verdict.WARNING: "a SHOULD was not met (does not fail the run)",
    Verdict.PASSED: "every requirement the check tests held",
    Verdict.INFORMATIONAL: "behaviour the specification leaves open, reported as data",
    Verdict.SKIPPED: "not run: a profile is not declared or the model cannot play it",
}
# How several verdicts about one requirement combine: the worst wins; a BLOCKED conclusion
# outranks a pass elsewhere (part of the requirement was not judged), a PASSED outranks an
# INFORMATIONAL observation, and SKIPPED only stands when nothing else was concluded.
_SEVERITY: dict[Verdict, int] = {
    Verdict.FAILED: 5,
    Verdict.WARNING: 4,
    Verdict.BLOCKED: 3,
    Verdict.PASSED: 2,
    Verdict.INFORMATIONAL: 1,
    Verdict.SKIPPED: 0,
}


def level_class(level: str) -> str:
    """Map a registry level to its report column: MUST, SHOULD, MAY or ``-`` (unknown)."""
    normalized = " ".join(level.upper().split())
    if normalized in ("MUST", "MUST NOT"):
        return "MUST"
    if normalized in ("SHOULD", "SHOULD NOT"):
        return "SHOULD"
    if normalized == "MAY":
        return "MAY"
    return "-"


def area_of(check: CheckResult) -> str:
    """The check's area: ``details["area"]`` when the scenario says so, else the part of the
    check id before the first dot (``cache.store-false-miss`` -> ``cache``)."""
    area = check.details.get("area")
    if isinstance(area, str) and area:
        return area
    return check.id.split(".", 1)[0] if "." in check.id else "other"


def check_level(check: CheckResult, registry: Mapping[str, Requirement]) -> str:
    """The strongest level among the requirements the check tests (``-`` if none is known)."""
    classes = {level_class(registry[r].level) for r in check.requirements if r in registry}
    for level in LEVEL_ORDER:
        if level in classes:
            return level
    return "-"


def load_registry_or_empty() -> dict[str, Requirement]:
    """The requirement registry, or an empty one when it cannot be read: a broken registry
    must not stop the reports of a finished run (levels then show as ``-``)."""
    try:
        return load_requirements()
    except (OSError, ValueError, yaml.YAMLError):
        return {}


def count_verdicts(checks: Iterable[CheckResult]) -> dict[str, int]:
    """Counts per verdict (every verdict present, zeros included) plus ``expected_failure``."""
    counts: Counter[str] = Counter()
    for check in checks:
        counts[check.verdict.value] += 1
        if expected_failure_reason(check) is not None:
            counts["expected_failure"] += 1
    result = {verdict.value: counts[verdict.value] for verdict in VERDICT_ORDER}
    result["expected_failure"] = counts["expected_failure"]
    return result


def stale_check_ids(run: RunResult, stale: Iterable[StaleEntry]) -> dict[str, str]:
    """Check id -> stale-entry message, for every check a stale entry matched."""
    result: dict[str, str] = {}
    for entry in stale:
        for check_id, _verdict in entry.observed:
            result.setdefault(check_id, entry.message)
    return result


def ordered_for_people(
    checks: Sequence[CheckResult], stale_ids: Mapping[str, str]
) -> list[CheckResult]:
    """Failures first (unexpected, then stale, then expected), then warnings, then the rest;
    run order within each group."""

    def rank(check: CheckResult) -> int:
        if is_unexpected_failure(check):
            return 0
        if check.id in stale_ids:
            return 1
        if check.verdict is Verdict.FAILED:
            return 2
        return 2 + VERDICT_ORDER.index(check.verdict)

    return sorted(checks, key=rank)  # sorted() is stable: run order is kept within a rank


@dataclass(frozen=True)
class RequirementSummary:
    """What a run concluded about one requirement, across every check that tests it or saw it
    violated on the way."""

    id: str
    level: str  # the registry level ("MUST NOT"...), "" when the registry does not know it
    verdict: Verdict
    checks: tuple[tuple[str, Verdict], ...]  # (check id, verdict about this requirement)
    blocked_by: tuple[str, ...] = ()  # when BLOCKED: the violated requirements it relies on


def requirement_summaries(
    run: RunResult, registry: Mapping[str, Requirement]
) -> list[RequirementSummary]:
    """One summary per requirement some check tests or saw violated, in registry order then
    by ID."""
    per_requirement: dict[str, list[tuple[str, Verdict]]] = {}
    blockers: dict[str, set[str]] = {}
    for check in run.checks:
        for requirement in check.requirements:
            # A check that does not conclude per requirement concluded its own verdict.
            verdict = check.requirement_verdicts.get(requirement, check.verdict)
            per_requirement.setdefault(requirement, []).append((check.id, verdict))
        for requirement, verdict in check.observed().items():
            # Another requirement's violation seen on the way counts for that requirement.
            if verdict in (Verdict.FAILED, Verdict.WARNING, Verdict.BLOCKED):
                per_requirement.setdefault(requirement, []).append((check.id, verdict))
        for requirement, by in check.blocked_by.items():
            blockers.setdefault(requirement, set()).update(by)
    order = {rid: index for index, rid in enumerate(registry)}
    summaries = []
    for rid in sorted(per_requirement, key=lambda r: (order.get(r, len(order)), r)):
        seen = per_requirement[rid]
        worst = max((v for _c, v in seen), key=_SEVERITY.__getitem__)
        level = registry[rid].level if rid in registry else ""
        by = tuple(sorted(blockers.get(rid, ()))) if worst is Verdict.BLOCKED else ()
        summaries.append(RequirementSummary(rid, level, worst, tuple(seen), by))
    return summaries


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bytes | bytearray):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    # Anything else the harness put into details: its text is better than losing the report.
    return repr(value)


def to_jsonable(value: Any) -> Any:
    """Turn result data (enums, mappings, tuples, bytes, odd objects) into plain JSON data."""
    return json.loads(json.dumps(value, default=_default, ensure_ascii=False))

"""``report.json``: the machine-readable report of a run.

The format is described by ``report.schema.json`` next to this module (tests validate every
report we write against it). ``responses-ws trace`` reads it back to build the traceability
matrix, so the matrix always comes from a real run, never from a scan of the source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from conformance.baseline import StaleEntry, exit_reasons, exit_status, expected_failure_reason
from conformance.reports._common import (
    area_of,
    check_level,
    count_verdicts,
    requirement_summaries,
    stale_check_ids,
    to_jsonable,
)
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, blocked, untestable, violations

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SCHEMA_PATH",
    "build_report",
    "root_causes",
    "write_json_report",
]

FORMAT = "responses-ws-conformance-report"
# 2: BLOCKED verdicts, per-check evidence and blocked_by, and the run's root causes
# (violations, blocked, untestable) ahead of the checks.
FORMAT_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def _check_entry(
    check: CheckResult, registry: Mapping[str, Requirement], stale_ids: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "id": check.id,
        "title": check.title,
        "area": area_of(check),
        "level": check_level(check, registry),
        "requirements": list(check.requirements),
        "verdict": check.verdict.value,
        "expected_failure": expected_failure_reason(check),
        "stale_expected_failure": stale_ids.get(check.id),
        "duration_s": check.duration_s,
        "message": check.message,
        "requirement_verdicts": {r: v.value for r, v in check.requirement_verdicts.items()},
        "blocked_by": {r: list(by) for r, by in check.blocked_by.items()},
        "evidence": [
            {
                "requirement": e.requirement,
                "verdict": e.verdict.value,
                "message": e.message,
                "records": list(e.records),
                "relies_on": list(e.relies_on),
                "violation": e.violation,
            }
            for e in check.evidence
        ],
        "details": to_jsonable(dict(check.details)),
        "wire_log": [_abbreviated(record) for record in to_jsonable(list(check.wire_log))],
    }


#: A wire-log text longer than this is kept as its head and a digest of the whole: a check
#: that sends a message of the declared max-message-size (16 MiB) must not make the report
#: that large.
MAX_WIRE_TEXT = 64 * 1024
_HEAD = 2048


def _abbreviated(record: Any) -> Any:
    """``record`` with a text above MAX_WIRE_TEXT cut to its head, its size and SHA-256."""
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or len(text) <= MAX_WIRE_TEXT:
        return record
    data = text.encode("utf-8", "surrogatepass")
    return {
        **record,
        "text": text[:_HEAD],
        "text_omitted": {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "kept_chars": _HEAD,
        },
    }


def root_causes(run: RunResult, registry: Mapping[str, Requirement]) -> dict[str, Any]:
    """What the run found, root cause first: each violated requirement once with its first
    evidence, then the requirements blocked by them, then those that could not be tested."""
    return {
        "violations": [
            {
                "requirement": v.requirement,
                "level": registry[v.requirement].level if v.requirement in registry else "",
                "verdict": v.verdict.value,
                "check": v.check,
                "message": v.message,
                "records": list(v.records),
                "seen_in": list(v.seen_in),
                "own_in": list(v.own_in),
            }
            for v in violations(run.checks)
        ],
        "blocked": [
            {
                "requirement": b.requirement,
                "blocked_by": list(b.blocked_by),
                "checks": list(b.checks),
            }
            for b in blocked(run.checks)
        ],
        "untestable": [
            {"requirement": rid, "checks": [{"check": c, "why": why} for c, why in found]}
            for rid, found in untestable(run.checks).items()
        ],
    }


def build_report(
    run: RunResult,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> dict[str, Any]:
    """The report of ``run`` as JSON data (``stale``: the baseline's stale entries;
    ``registry``: requirement levels, empty when unknown)."""
    registry = registry if registry is not None else {}
    stale = tuple(stale)
    stale_ids = stale_check_ids(run, stale)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "target": to_jsonable(dict(run.target)),
        "summary": {
            "total": len(run.checks),
            "verdicts": count_verdicts(run.checks),
            "stale_expected_failures": len(stale),
            "exit_status": exit_status(run, stale),
            "exit_reasons": exit_reasons(run, stale),
        },
        **root_causes(run, registry),
        "checks": [_check_entry(c, registry, stale_ids) for c in run.checks],
        "requirements": [
            {
                "id": s.id,
                "level": s.level,
                "verdict": s.verdict.value,
                "checks": [{"check": c, "verdict": v.value} for c, v in s.checks],
                "blocked_by": list(s.blocked_by),
            }
            for s in requirement_summaries(run, registry)
        ],
        "stale_expected_failures": [
            {
                "check": s.entry.check,
                "requirement": s.entry.requirement,
                "reason": s.entry.reason,
                "message": s.message,
                "observed": [{"check": c, "verdict": v.value} for c, v in s.observed],
            }
            for s in stale
        ],
    }


def write_json_report(
    run: RunResult,
    path: str | Path,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> Path:
    """Write ``report.json`` to ``path`` and return the path."""
    path = Path(path)
    report = build_report(run, stale=stale, registry=registry)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path

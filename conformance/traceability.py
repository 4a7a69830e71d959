"""The traceability matrix: for every requirement of the registry, whether a real run tested
it (by which checks, with which verdicts), an exclusion explains why it is not tested, or it
is untested — and then why: the skip reasons of the checks that would have tested it ("needs
the scripted model 'conformance-1'", "profile 'multiplex' not declared", a part a check could
not reach with the model in use).

The matrix is built from a run's ``report.json``, never from a scan of the source (MCP's
rule): a check that exists but never ran tests nothing. A requirement counts as *tested* when
a check that ran (any verdict but SKIPPED) either declares it, or concluded a verdict about
it, or its transcript exercised it in the checker (``details["exercised"]``). Requirements
only SKIPPED checks cover are untested in that run, with the skip named.

Totals are by level class: MUST (with MUST NOT), SHOULD (with SHOULD NOT), MAY. Every server
MUST and SHOULD must be tested or excluded; ``--strict`` turns an untested one into a non-zero
exit status. Exclusions live in ``conformance/exclusions.yaml``: a mapping id -> reason, at the
top level or under the key ``exclusions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.reports._common import LEVEL_ORDER, level_class
from conformance.requirements import Requirement

__all__ = [
    "DEFAULT_EXCLUSIONS",
    "STATUSES",
    "TraceError",
    "TraceMatrix",
    "TraceRow",
    "TracedCheck",
    "build_matrix",
    "load_exclusions",
    "load_report",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
]

DEFAULT_EXCLUSIONS = Path(__file__).with_name("exclusions.yaml")
STATUSES: tuple[str, ...] = ("tested", "excluded", "untested")
# The level classes a conformance claim is about; MAY needs no row to be complete.
_GATED_LEVELS = ("MUST", "SHOULD")


class TraceError(ValueError):
    """The report or the exclusions file cannot be used."""


@dataclass(frozen=True)
class TracedCheck:
    """One check's bearing on one requirement."""

    check: str
    verdict: str
    via: str  # "declared" (the check lists it) or "checker" (its transcript exercised it)
    # Why a SKIPPED bearing was skipped: the part's own reason, else the check's skip reason.
    reason: str = ""


@dataclass(frozen=True)
class TraceRow:
    """One requirement of the matrix."""

    id: str
    level: str  # registry level, e.g. "MUST NOT"
    level_class: str  # MUST, SHOULD or MAY
    profile: str
    text: str
    status: str  # tested | excluded | untested
    checks: tuple[TracedCheck, ...] = ()
    reason: str = ""  # exclusion reason, or why an untested requirement was not tested
    also_excluded: bool = False  # tested although exclusions.yaml lists it (a stale exclusion)
    # For an untested row: each distinct skip reason with the checks that gave it, so that a
    # reader (the console, a coverage table) can group requirements by what they need.
    skipped: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class TraceMatrix:
    """The whole matrix of one role, from one report."""

    role: str
    rows: tuple[TraceRow, ...]
    source: Mapping[str, Any] = field(default_factory=dict)  # started_at and target of the run
    unknown_ids: tuple[str, ...] = ()  # IDs checks cite that the registry does not have

    def totals(self) -> dict[str, dict[str, int]]:
        """Per level class (and ``all``): total and count per status."""
        result: dict[str, dict[str, int]] = {}
        for level in (*LEVEL_ORDER[:3], "all"):
            rows = [r for r in self.rows if level in ("all", r.level_class)]
            counts = {"total": len(rows)}
            counts.update({s: sum(1 for r in rows if r.status == s) for s in STATUSES})
            result[level] = counts
        return result

    def gaps(self) -> tuple[TraceRow, ...]:
        """The untested MUST and SHOULD requirements (what ``--strict`` fails on)."""
        return tuple(
            r for r in self.rows if r.status == "untested" and r.level_class in _GATED_LEVELS
        )


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json`` written by :mod:`conformance.reports.json_report`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TraceError(f"{path}: cannot read the report: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != "responses-ws-conformance-report":
        raise TraceError(f"{path}: not a responses-ws report.json")
    if not isinstance(data.get("checks"), list):
        raise TraceError(f"{path}: the report has no 'checks' list")
    return data


def load_exclusions(path: str | Path | None = None) -> dict[str, str]:
    """Read the exclusions file (requirement id -> reason); a missing default file is empty."""
    chosen = Path(path) if path is not None else DEFAULT_EXCLUSIONS
    if not chosen.exists():
        if path is not None:
            raise TraceError(f"{chosen}: no such exclusions file")
        return {}
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TraceError(f"{chosen}: not valid YAML: {exc}") from exc
    if isinstance(data, Mapping) and set(data) == {"exclusions"}:
        data = data["exclusions"]  # the wrapped form: {exclusions: {id: reason}}
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise TraceError(f"{chosen}: must be a mapping of requirement id to reason")
    return {str(k): " ".join(str(v).split()) for k, v in data.items()}


def _checks_by_requirement(report: Mapping[str, Any]) -> dict[str, list[TracedCheck]]:
    """requirement id -> every check of the report bearing on it, SKIPPED ones included."""
    found: dict[str, dict[str, TracedCheck]] = {}
    for check in report.get("checks", []):
        check_id = str(check.get("id", ""))
        verdict = str(check.get("verdict", ""))
        per_req: Mapping[str, str] = check.get("requirement_verdicts") or {}
        details = check.get("details") or {}
        if not isinstance(details, Mapping):
            details = {}
        # A part the check could not run says why (details["not_applicable"]); a whole
        # skipped check says it in its message.
        parts: Mapping[str, str] = details.get("not_applicable") or {}
        for requirement in check.get("requirements", []):
            said = str(per_req.get(requirement, verdict))
            why = str(parts.get(requirement) or check.get("message") or "").strip()
            found.setdefault(requirement, {})[check_id] = TracedCheck(
                check_id,
                said,
                "declared",
                why.splitlines()[0] if why and said == "SKIPPED" else "",
            )
        exercised = details.get("exercised")
        incidental = set(per_req)
        if isinstance(exercised, Mapping):
            incidental |= {r for r, n in exercised.items() if isinstance(n, int) and n > 0}
        if verdict == "SKIPPED":
            continue  # a skipped check's transcript is empty: it exercised nothing
        for requirement in sorted(incidental):
            if check_id not in found.get(requirement, {}):
                # Findings that hold are dropped from requirement_verdicts by the runner.
                found.setdefault(requirement, {})[check_id] = TracedCheck(
                    check_id, str(per_req.get(requirement, "PASSED")), "checker"
                )
    return {r: list(by_check.values()) for r, by_check in found.items()}


def skip_reasons(traced: Sequence[TracedCheck]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each distinct reason among the SKIPPED bearings, with the checks that gave it, in the
    order first seen."""
    grouped: dict[str, list[str]] = {}
    for t in traced:
        if t.verdict == "SKIPPED":
            grouped.setdefault(t.reason or "skipped, no reason given", []).append(t.check)
    return tuple((reason, tuple(checks)) for reason, checks in grouped.items())


def _untested_reason(skipped: Sequence[tuple[str, Sequence[str]]]) -> str:
    if not skipped:
        return "no check that ran tests it"
    return "; ".join(f"{reason} ({', '.join(checks)})" for reason, checks in skipped)


def _row(
    requirement: Requirement,
    status: str,
    checks: tuple[TracedCheck, ...],
    reason: str = "",
    *,
    also_excluded: bool = False,
    skipped: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> TraceRow:
    return TraceRow(
        id=requirement.id,
        level=requirement.level,
        level_class=level_class(requirement.level),
        profile=requirement.profile,
        text=requirement.text,
        status=status,
        checks=checks,
        reason=reason,
        also_excluded=also_excluded,
        skipped=skipped,
    )


def build_matrix(
    report: Mapping[str, Any],
    registry: Mapping[str, Requirement],
    exclusions: Mapping[str, str],
    *,
    role: str = "server",
    profiles: Sequence[str] = (),
) -> TraceMatrix:
    """Build the matrix of ``role`` (optionally only ``profiles``) from a report."""
    by_requirement = _checks_by_requirement(report)
    rows: list[TraceRow] = []
    for requirement in registry.values():
        if requirement.role != role or requirement.status == "withdrawn":
            continue
        if profiles and requirement.profile not in profiles:
            continue
        traced = tuple(by_requirement.get(requirement.id, ()))
        ran = tuple(t for t in traced if t.verdict != "SKIPPED")
        excluded = exclusions.get(requirement.id)

        if ran:
            rows.append(_row(requirement, "tested", ran, also_excluded=excluded is not None))
        elif excluded is not None:
            rows.append(_row(requirement, "excluded", traced, excluded))
        else:
            skipped = skip_reasons(traced)
            why = _untested_reason(skipped)
            rows.append(_row(requirement, "untested", traced, why, skipped=skipped))
    cited = set(by_requirement)
    unknown = tuple(sorted(cited - set(registry)))
    source = {"started_at": report.get("started_at", ""), "target": report.get("target", {})}
    return TraceMatrix(role=role, rows=tuple(rows), source=source, unknown_ids=unknown)


def _check_list(row: TraceRow) -> str:
    if row.status == "tested":
        parts = [
            f"{t.check} {t.verdict}" + (" (checker)" if t.via == "checker" else "")
            for t in row.checks
        ]
        note = " [also in exclusions.yaml]" if row.also_excluded else ""
        return ", ".join(parts) + note
    return row.reason


def _heading(matrix: TraceMatrix) -> str:
    target = matrix.source.get("target") or {}
    url = target.get("server_url") or target.get("url") or "?"
    return (
        f"Traceability of the {matrix.role} requirements, from the run of "
        f"{matrix.source.get('started_at') or '?'} against {url}"
    )


def render_text(matrix: TraceMatrix) -> str:
    """The matrix for a terminal."""
    lines = [_heading(matrix), ""]
    lines.append(f"{'level':<8}{'total':>7}{'tested':>8}{'excluded':>10}{'untested':>10}")
    for level, counts in matrix.totals().items():
        lines.append(
            f"{level:<8}{counts['total']:>7}{counts['tested']:>8}"
            f"{counts['excluded']:>10}{counts['untested']:>10}"
        )
    gaps = matrix.gaps()
    lines.append("")
    lines.append(f"Untested MUST/SHOULD requirements: {len(gaps)}")
    lines.extend(f"  {r.id:<14} {r.level:<11} {r.reason}" for r in gaps)
    if matrix.unknown_ids:
        lines.append(
            f"Requirement IDs cited by checks but not in the registry: "
            f"{', '.join(matrix.unknown_ids)}"
        )
    lines.append("")
    for row in matrix.rows:
        lines.append(f"{row.id:<14} {row.level:<11} {row.status:<9} {_check_list(row)}")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(matrix: TraceMatrix) -> str:
    """The matrix as a Markdown page (for the docs site or a pull request)."""
    lines = [f"# {_heading(matrix)}", ""]
    lines.append("| Level | Total | Tested | Excluded | Untested |")
    lines.append("|---|---:|---:|---:|---:|")
    for level, counts in matrix.totals().items():
        lines.append(
            f"| {level} | {counts['total']} | {counts['tested']} | {counts['excluded']} | "
            f"{counts['untested']} |"
        )
    if matrix.unknown_ids:
        lines += ["", f"Cited but not in the registry: {', '.join(matrix.unknown_ids)}"]
    lines += ["", "| Requirement | Level | Profile | Status | Checks or reason |"]
    lines.append("|---|---|---|---|---|")
    for row in matrix.rows:
        lines.append(
            f"| {row.id} | {row.level} | {row.profile} | {row.status} | {_md(_check_list(row))} |"
        )
    return "\n".join(lines) + "\n"


def render_json(matrix: TraceMatrix) -> str:
    """The matrix as JSON (the shape of MCP's traceability.json, per requirement)."""
    data = {
        "role": matrix.role,
        "source": dict(matrix.source),
        "totals": matrix.totals(),
        "unknown_ids": list(matrix.unknown_ids),
        "requirements": [
            {
                "id": r.id,
                "level": r.level,
                "level_class": r.level_class,
                "profile": r.profile,
                "status": r.status,
                "checks": [
                    {"check": t.check, "verdict": t.verdict, "via": t.via} for t in r.checks
                ],
                "reason": r.reason,
                "also_excluded": r.also_excluded,
            }
            for r in matrix.rows
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(matrix: TraceMatrix, fmt: str) -> str:
    """Render in ``text``, ``markdown`` or ``json``."""
    renderers = {"text": render_text, "markdown": render_markdown, "json": render_json}
    if fmt not in renderers:
        raise TraceError(f"unknown format {fmt!r}; choose one of {sorted(renderers)}")
    return renderers[fmt](matrix)

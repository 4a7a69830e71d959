"""Requirement coverage in two columns: with the scripted model ``conformance-1`` and with
any other model (the model a server runs itself).

Two sources feed the columns.

* A run. Its report's target model says which column it feeds (:func:`column_of`): the
  documentation site records one run of each (``docs import-report`` files a report by it),
  and ``responses-ws trace --report A --report B`` puts two runs side by side
  (:func:`side_by_side`). A run counts what the checks declare *and* what the checker judged
  on the runs they made, so it is the number a conformance claim quotes.
* The scenario registry, without a run (:func:`plan`): which checks declare each requirement
  and which of those run with a model other than conformance-1. A check needs conformance-1
  when it is registered ``needs_model`` or needs the ``conformance-model`` profile; a
  requirement of the ``conformance-model`` profile is about conformance-1's own output, so no
  other model tests it. A run and the plan differ both ways: the checker also judges the
  ordering, delta and sequence rules on every run any check makes (a run counts more), and a
  check that runs with any model may skip a part that needs exact output, or not reach an
  event the model did not produce (a run counts less).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.harness.registry import Scenario
from conformance.reports._common import LEVEL_ORDER, level_class
from conformance.requirements import Requirement
from conformance.suite_options import CONFORMANCE_MODEL
from conformance.traceability import TraceMatrix, TraceRow

__all__ = [
    "ANY_MODEL",
    "COLUMNS",
    "SCRIPTED",
    "SCRIPTED_PROFILE",
    "PlannedRow",
    "column_of",
    "column_title",
    "plan",
    "plan_totals",
    "render_plan",
    "render_side_by_side",
    "scripted_only",
    "side_by_side",
    "summary_line",
]

SCRIPTED = "scripted"
ANY_MODEL = "any model"
COLUMNS: tuple[str, ...] = (SCRIPTED, ANY_MODEL)
# The profile a server declares by serving conformance-1 (spec appendix A).
SCRIPTED_PROFILE = "conformance-model"
_LEVELS = LEVEL_ORDER[:3]


def column_of(report: Mapping[str, Any]) -> str:
    """The column a run feeds: its target model is conformance-1 or another one."""
    model = (report.get("target") or {}).get("model")
    return SCRIPTED if model == CONFORMANCE_MODEL else ANY_MODEL


def column_title(column: str, model: str | None = None) -> str:
    """How a column is headed: ``scripted model (conformance-1)``, ``any model (freeform-1)``."""
    if column == SCRIPTED:
        return f"scripted model ({CONFORMANCE_MODEL})"
    return f"any model ({model})" if model else "any model"


def scripted_only(scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot run with a model other than conformance-1 (None when it can)."""
    if scenario.needs_model:
        return f"needs the scripted model {CONFORMANCE_MODEL!r}"
    if SCRIPTED_PROFILE in (scenario.profile, *scenario.extra_profiles):
        return f"needs the {SCRIPTED_PROFILE!r} profile (the scripted model {CONFORMANCE_MODEL!r})"
    return None


@dataclass(frozen=True)
class PlannedRow:
    """One requirement of the registry's plan: the checks that test it, per column."""

    id: str
    level: str
    level_class: str
    profile: str
    scripted: tuple[str, ...]  # the checks declaring it (all run with conformance-1)
    any_model: tuple[str, ...]  # those that run with any model and test it there
    needs: str = ""  # why no check tests it with any model
    excluded: str = ""  # the exclusion reason, when exclusions.yaml lists it


def plan(
    registry: Mapping[str, Requirement],
    scenarios: Sequence[Scenario],
    exclusions: Mapping[str, str] | None = None,
    *,
    profiles: Sequence[str] = (),
) -> tuple[PlannedRow, ...]:
    """Every server requirement (optionally only ``profiles``) with the checks that declare
    it and those of them that run with any model."""
    exclusions = exclusions or {}
    declared: dict[str, list[Scenario]] = {}
    for s in scenarios:
        for requirement_id in s.requirements:
            declared.setdefault(requirement_id, []).append(s)
    rows: list[PlannedRow] = []
    for r in registry.values():
        if r.role != "server" or r.status == "withdrawn":
            continue
        if profiles and r.profile not in profiles:
            continue
        checks = declared.get(r.id, [])
        anywhere = (
            ()
            if r.profile == SCRIPTED_PROFILE
            else tuple(s.id for s in checks if scripted_only(s) is None)
        )
        if anywhere or not checks:
            needs = ""
        elif r.profile == SCRIPTED_PROFILE:
            needs = f"a requirement of conformance-1's output ({SCRIPTED_PROFILE!r} profile)"
        else:
            needs = "; ".join(sorted({str(scripted_only(s)) for s in checks}))
        rows.append(
            PlannedRow(
                id=r.id,
                level=r.level,
                level_class=level_class(r.level),
                profile=r.profile,
                scripted=tuple(s.id for s in checks),
                any_model=anywhere,
                needs=needs,
                excluded=exclusions.get(r.id, ""),
            )
        )
    return tuple(rows)


def plan_totals(rows: Sequence[PlannedRow]) -> dict[str, dict[str, int]]:
    """Per level class (and ``all``): total, declared per column, excluded."""
    out: dict[str, dict[str, int]] = {}
    for level in (*_LEVELS, "all"):
        members = [r for r in rows if level in ("all", r.level_class)]
        out[level] = {
            "total": len(members),
            SCRIPTED: sum(1 for r in members if r.scripted),
            ANY_MODEL: sum(1 for r in members if r.any_model),
            "excluded": sum(1 for r in members if r.excluded),
        }
    return out


def side_by_side(matrices: Sequence[TraceMatrix]) -> dict[str, TraceMatrix]:
    """Column -> the matrix of the run that feeds it (one run per column)."""
    out: dict[str, TraceMatrix] = {}
    for matrix in matrices:
        column = column_of(matrix.source)
        if column in out:
            raise ValueError(
                f"two runs for the {column_title(column)} column: give one run with "
                f"{CONFORMANCE_MODEL} and one with another model"
            )
        out[column] = matrix
    return {c: out[c] for c in COLUMNS if c in out}


def _model(matrix: TraceMatrix) -> str:
    return str((matrix.source.get("target") or {}).get("model") or "")


def summary_line(matrices: Mapping[str, TraceMatrix], level: str = "MUST") -> str:
    """``server MUSTs tested: 84/92 scripted, 62/92 any model (freeform-1)``."""
    parts = []
    role = "server"
    for column, matrix in matrices.items():
        role = matrix.role
        counts = matrix.totals()[level]
        label = SCRIPTED if column == SCRIPTED else column_title(column, _model(matrix))
        parts.append(f"{counts['tested']}/{counts['total']} {label}")
    return f"{role} {level}s tested: {', '.join(parts)}"


def _cell(row: TraceRow | None) -> str:
    if row is None:
        return "-"
    if row.status == "tested":
        verdicts = sorted({t.verdict for t in row.checks})
        return "tested (" + ", ".join(verdicts) + ")"
    return f"{row.status}: {row.reason}"


def render_side_by_side(matrices: Mapping[str, TraceMatrix], fmt: str) -> str:
    """Two runs' matrices in one table (``text``, ``markdown`` or ``json``)."""
    rows = {c: {r.id: r for r in m.rows} for c, m in matrices.items()}
    ids = list(dict.fromkeys(i for m in matrices.values() for i in (r.id for r in m.rows)))
    titles = {c: column_title(c, _model(m)) for c, m in matrices.items()}
    if fmt == "json":
        data = {
            "columns": {
                c: {"model": _model(m), "source": dict(m.source), "totals": m.totals()}
                for c, m in matrices.items()
            },
            "requirements": [
                {
                    "id": i,
                    **{
                        c: {"status": by[i].status, "reason": by[i].reason}
                        for c, by in rows.items()
                        if i in by
                    },
                }
                for i in ids
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    levels = [summary_line(matrices, level) for level in _LEVELS]
    if fmt == "markdown":
        out = ["# Requirement coverage by model", "", *(f"- {line}" for line in levels), ""]
        out.append("| Requirement | Level | " + " | ".join(titles.values()) + " |")
        out.append("|---|---|" + "---|" * len(titles))
        for i in ids:
            some = next(by[i] for by in rows.values() if i in by)
            cells = [_cell(by.get(i)).replace("|", "\\|") for by in rows.values()]
            out.append(f"| {i} | {some.level} | " + " | ".join(cells) + " |")
        return "\n".join(out) + "\n"
    out = ["Requirement coverage by model", *levels, ""]
    for i in ids:
        some = next(by[i] for by in rows.values() if i in by)
        out.append(f"{i:<14} {some.level}")
        out.extend(f"    {titles[c]}: {_cell(by.get(i))}" for c, by in rows.items())
    return "\n".join(out) + "\n"


def render_plan(rows: Sequence[PlannedRow], fmt: str) -> str:
    """The registry's plan (no run) in ``text``, ``markdown`` or ``json``."""
    totals = plan_totals(rows)
    scripted_title, any_title = column_title(SCRIPTED), column_title(ANY_MODEL)
    if fmt == "json":
        data = {
            "source": "scenario registry (no run)",
            "totals": totals,
            "requirements": [
                {
                    "id": r.id,
                    "level": r.level,
                    "profile": r.profile,
                    SCRIPTED: list(r.scripted),
                    ANY_MODEL: list(r.any_model),
                    "needs": r.needs,
                    "excluded": r.excluded,
                }
                for r in rows
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    lines = [
        f"server {level}s declared by a check: {c[SCRIPTED]}/{c['total']} with the "
        f"{scripted_title}, {c[ANY_MODEL]}/{c['total']} with {any_title}"
        for level, c in totals.items()
        if level != "all"
    ]
    note = (
        "From the scenario registry, without a run: the checks that declare each requirement. "
        "A run differs: the checker also judges the ordering, delta and sequence rules on "
        "every run a check makes, and a check may skip a part that needs exact output or not "
        "reach an event the model did not produce. "
        "`responses-ws trace --report report.json` counts what a run tested."
    )

    def other(r: PlannedRow) -> str:
        if r.any_model:
            return ", ".join(r.any_model)
        return r.needs or ("excluded: " + r.excluded if r.excluded else "no check")

    def scripted(r: PlannedRow) -> str:
        return ", ".join(r.scripted) or ("excluded: " + r.excluded if r.excluded else "no check")

    if fmt == "markdown":
        out = ["# Requirement coverage by model (plan)", "", note, ""]
        out.extend(f"- {line}" for line in lines)
        out += ["", f"| Requirement | Level | Profile | {scripted_title} | {any_title} |"]
        out.append("|---|---|---|---|---|")
        out.extend(
            f"| {r.id} | {r.level} | {r.profile} | {scripted(r)} | {other(r)} |" for r in rows
        )
        return "\n".join(out) + "\n"
    out = ["Requirement coverage by model (plan)", note.replace("`", ""), "", *lines, ""]
    for r in rows:
        out.append(f"{r.id:<14} {r.level:<11} {r.profile}")
        out.append(f"    {scripted_title}: {scripted(r)}")
        out.append(f"    {any_title}: {other(r)}")
    return "\n".join(out) + "\n"

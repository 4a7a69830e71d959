"""The sections report.html leads with: a legend of the verdicts, then root cause first -
each violated requirement once with its first evidence (linked to the marked wire record) and
every check that saw it, the requirements blocked by them, and those that could not be tested
(:mod:`conformance.results`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from conformance.reports._common import VERDICT_MEANING, VERDICT_ORDER
from conformance.reports._html import (
    SpecLinks,
    badge,
    check_anchor,
    esc,
    findings,
    rendered,
    req_link,
    wire_anchor,
)
from conformance.reports.lead import violated_heading
from conformance.requirements import Requirement
from conformance.results import RunResult, blocked, untestable, violations

__all__ = ["legend", "root_causes"]


def legend() -> str:
    """What each verdict label means."""
    rows = [
        f"<tr><td>{badge(v.value)}</td><td>{esc(VERDICT_MEANING[v])}</td></tr>"
        for v in VERDICT_ORDER
    ]
    rows.append(
        f"<tr><td>{badge('XFAIL')}</td><td>FAILED, listed in the expected-failures file "
        "(does not fail the run)</td></tr>"
    )
    rows.append(
        f"<tr><td>{badge('STALE')}</td><td>listed in the expected-failures file but no "
        "longer failing (fails the run: remove the entry)</td></tr>"
    )
    return (
        '<details class="legend"><summary>What the verdicts mean</summary>'
        f"<table>{''.join(rows)}</table></details>"
    )


def _evidence_link(check_id: str, records: Sequence[int], text: str) -> str:
    target = wire_anchor(check_id, records[0]) if records else check_anchor(check_id)
    return f'<a href="#{esc(target)}">{text}</a>'


def root_causes(run: RunResult, registry: Mapping[str, Requirement], spec: SpecLinks) -> str:
    """Root cause first: each violated requirement once with its first evidence and the
    checks that saw it, then the blocked requirements, then those that could not be tested."""
    found = violations(run.checks)
    out = [f"<h2>{esc(violated_heading(run))}</h2>"]
    if not found:
        out.append("<p>The run saw no requirement violated.</p>")
    for v in found:
        known = registry.get(v.requirement)
        level = f" ({esc(known.level)})" if known else ""
        text = f"<p>{rendered(known.text)}</p>" if known else ""
        others = [c for c in v.seen_in if c != v.check]
        also = (
            "<p class=muted>also seen in: "
            + ", ".join(
                f'<a class="cid" href="#{esc(check_anchor(c))}">{esc(c)}</a>' for c in others
            )
            + "</p>"
            if others
            else ""
        )
        where = _evidence_link(v.check, v.records, esc(v.check))
        mark = " (the wire record is marked ✗)" if v.records else ""
        out.append(
            f'<div class="cause" id="{esc("violated-" + v.requirement.lower())}">'
            f"<h3>{badge(v.verdict.value)} {req_link(v.requirement)}{level} "
            f"{spec.link(v.requirement)}</h3>{text}"
            f"<p>First seen in {where}{mark}:</p>{findings(v.message)}{also}</div>"
        )
    stuck = blocked(run.checks)
    if stuck:
        out.append(
            f"<h2>{len(stuck)} requirements blocked</h2><p>Not judged: the checks rely on a "
            "requirement the run saw violated. Fix that one first; they fail the run through "
            "it.</p>"
        )
        rows = [
            f"<tr><td>{req_link(b.requirement)}</td>"
            f"<td>{' '.join(req_link(r) for r in b.blocked_by)}</td><td>"
            + ", ".join(
                f'<a class="cid" href="#{esc(check_anchor(c))}">{esc(c)}</a>' for c in b.checks
            )
            + "</td></tr>"
            for b in stuck
        ]
        out.append(
            "<table><tr><th>requirement</th><th>blocked by</th><th>checks</th></tr>"
            f"{''.join(rows)}</table>"
        )
    cannot = untestable(run.checks)
    if cannot:
        out.append(
            f"<h2>{len(cannot)} requirements could not be tested</h2><p>FAILED although no "
            "violation was seen: what cannot be tested fails the run.</p><ul>"
        )
        for requirement, checks in cannot.items():
            for check_id, why in checks:
                out.append(
                    f"<li>{req_link(requirement)} in "
                    f'<a href="#{esc(check_anchor(check_id))}">{esc(check_id)}</a>: {esc(why)}</li>'
                )
        out.append("</ul>")
    return "\n".join(out)

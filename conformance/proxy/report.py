"""A proxy session as a conformance run: the verdict model and the report files of the suites.

The session's report (the merged report of :class:`~conformance.proxy.live.LiveJudge`) becomes
a :class:`~conformance.results.RunResult` of up to three checks, so that ``report.json``,
``junit.xml`` and ``report.html`` are written by :func:`conformance.reports.write_reports` and
read like any run's: ``proxy.server`` (every server requirement the traffic exercised, and
what the server broke), ``proxy.client`` (the same for the client, when it is judged) and,
when there were any, ``proxy.transcript`` (problems of the recording itself, such as traffic
after a close frame). Each finding kept for the report is one piece of :class:`Evidence`
whose records are quoted in the check's wire log, each with the file and line of its
transcript; a check says how many findings it has beyond those kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.checker import Finding, Report
from conformance.requirements import Requirement
from conformance.results import CheckResult, Evidence, RunResult, Verdict, check_verdict

__all__ = ["Kept", "session_run"]

_TITLES = {
    "server": "What the server sent through the proxy",
    "client": "What the client sent through the proxy",
}


@dataclass(frozen=True)
class Kept:
    """A finding kept for the report, with the records it names as read back (None: a record
    that was not written, past its transcript's limit) and where each is."""

    finding: Finding
    event: str
    records: tuple[tuple[int, str | None, int | None, Mapping[str, Any] | None], ...]
    # (session index, connection, line in its transcript, the record)


def _wire_entry(
    index: int, conn: str | None, line: int | None, record: Mapping[str, Any] | None
) -> dict[str, Any]:
    where = f"transcripts/{conn}.jsonl line {line}" if conn and line else "not written"
    if record is None:
        return {"conn": conn or "", "kind": "unrecorded", "note": f"record {index}: {where}"}
    return {**record, "note": f"record {index} of the session: {where}"}


def _check(
    role: str,
    requirements: Mapping[str, Requirement],
    verdicts: Mapping[str, Verdict],
    kept: Sequence[Kept],
    counts: Counter[str],
    details: Mapping[str, Any],
    duration_s: float,
) -> CheckResult:
    own = {rid: v for rid, v in verdicts.items() if _role(requirements, rid) == role}
    wire: list[dict[str, Any]] = []
    positions: dict[int, int] = {}
    evidence: list[Evidence] = []
    for item in kept:
        rid = item.finding.requirement
        if rid is None or rid not in own:
            continue
        records = []
        for index, conn, line, record in item.records:
            if index not in positions:
                positions[index] = len(wire)
                wire.append(_wire_entry(index, conn, line, record))
            records.append(positions[index])
        where = f"{item.finding.conn}: " if item.finding.conn else ""
        evidence.append(
            Evidence(
                requirement=rid,
                verdict=item.finding.verdict,
                message=f"{where}{item.finding.message} (seen at {item.event})",
                records=tuple(records),
            )
        )
    shown = Counter(e.requirement for e in evidence)
    more = {rid: n - shown[rid] for rid, n in counts.items() if rid in own and n > shown[rid]}
    lines = [e.message for e in evidence]
    lines.extend(f"{rid}: {n} more findings (see the transcripts)" for rid, n in more.items())
    verdict = check_verdict(tuple(sorted(own)), own) if own else Verdict.SKIPPED
    return CheckResult(
        id=f"proxy.{role}",
        title=_TITLES[role],
        requirements=tuple(sorted(own)),
        verdict=verdict,
        duration_s=duration_s,
        message="\n".join(lines)
        if lines
        else ("" if own else f"no {role} requirement was exercised by the traffic"),
        wire_log=tuple(wire),
        requirement_verdicts=own,
        details={
            **details,
            "area": "proxy",
            "findings": {rid: n for rid, n in sorted(counts.items()) if rid in own},
            "findings_not_shown": more,
        },
        evidence=tuple(evidence),
    )


def _role(requirements: Mapping[str, Requirement], rid: str) -> str:
    found = requirements.get(rid)
    return found.role if found is not None else "server"


def session_run(
    report: Report,
    kept: Sequence[Kept],
    requirements: Mapping[str, Requirement],
    *,
    roles: Sequence[str],
    started_at: str,
    duration_s: float,
    target: Mapping[str, Any],
    details: Mapping[str, Any],
) -> RunResult:
    """The session as a run: one check per judged role, and the recording's own problems."""
    counts: Counter[str] = Counter(
        f.requirement for f in report.findings if f.requirement is not None
    )
    verdicts = report.verdicts()
    checks = [
        _check(role, requirements, verdicts, kept, counts, details, duration_s)
        for role in ("server", "client")
        if role in roles
    ]
    problems = [f for f in report.findings if f.requirement is None]
    if problems:
        checks.append(
            CheckResult(
                id="proxy.transcript",
                title="The recording of the session",
                requirements=(),
                verdict=Verdict.FAILED,
                duration_s=duration_s,
                message="\n".join(
                    f"{f.conn + ': ' if f.conn else ''}{f.message}" for f in problems[:50]
                )
                + (f"\n{len(problems) - 50} more" if len(problems) > 50 else ""),
                wire_log=(),
                requirement_verdicts={},
                details={**details, "area": "proxy", "problems": len(problems)},
            )
        )
    return RunResult(
        checks=tuple(checks),
        started_at=started_at,
        duration_s=duration_s,
        target=dict(target),
    )

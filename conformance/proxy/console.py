"""What the proxy prints: one line per violation as it happens, notices, and the summary.

A violation's line says when (seconds into the session), the verdict, the requirement, the
connection, the event that revealed it and the finding itself, on one line::

    12.345 FAILED  RWS-SEQ-2     c3  s2c response.output_text.delta  expected sequence_...

INFORMATIONAL findings (behaviour the specification leaves open) are not violations and are
printed only when asked. A connection that keeps breaking one requirement would print a line
per event: after :data:`PER_CONNECTION` lines of one requirement on one connection the rest
are counted, and the summary gives the counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TextIO

from conformance.checker import Report
from conformance.proxy.live import LiveFinding
from conformance.reports.lead import lead_lines
from conformance.requirements import Requirement
from conformance.results import RunResult, Verdict

__all__ = ["PER_CONNECTION", "Console"]

#: Lines printed per requirement and connection before the rest are only counted.
PER_CONNECTION = 20


class Console:
    """Prints a session's findings as they happen, and its summary."""

    def __init__(self, out: TextIO, *, informational: bool = False) -> None:
        self.out = out
        self.informational = informational
        self._printed: Counter[tuple[str, str | None]] = Counter()
        self.silenced: Counter[tuple[str, str | None]] = Counter()

    def finding(self, live: LiveFinding) -> None:
        """A finding as it happens."""
        finding = live.finding
        if finding.verdict is Verdict.INFORMATIONAL and not self.informational:
            return
        requirement = finding.requirement or "TRANSCRIPT"
        key = (requirement, finding.conn)
        self._printed[key] += 1
        if self._printed[key] > PER_CONNECTION:
            self.silenced[key] += 1
            return
        at = f"{live.ts:9.3f}" if live.ts is not None else " " * 9
        message = " ".join(finding.message.split())
        self.out.write(
            f"{at} {finding.verdict.value:<7} {requirement:<13} {finding.conn or '-':<4} "
            f"{live.event}  {message}\n"
        )
        if self._printed[key] == PER_CONNECTION:
            self.out.write(
                f"{'':9} (further {requirement} findings on {finding.conn or 'the session'} "
                "are counted, not printed)\n"
            )
        self.out.flush()

    def notice(self, text: str) -> None:
        """Something about the proxy itself (not a finding): listening, an upstream problem."""
        self.out.write(f"responses-ws proxy: {text}\n")
        self.out.flush()

    def summary(
        self,
        report: Report,
        run: RunResult,
        registry: Mapping[str, Requirement],
        *,
        stats: Mapping[str, int],
        files: Sequence[str],
        status: int,
        why: str,
    ) -> None:
        """The end of the session: traffic, verdicts, violations root cause first, files."""
        out = self.out
        out.write(
            f"\nresponses-ws proxy: {stats.get('connections', 0)} connections "
            f"({stats.get('refused', 0)} refused upgrades), {stats.get('c2s', 0)} client and "
            f"{stats.get('s2c', 0)} server messages, {report.records} records judged "
            f"in {run.duration_s:.1f} s\n"
        )
        verdicts = Counter(v.value for v in report.verdicts().values())
        shown = "  ".join(
            f"{v.value} {verdicts.get(v.value, 0)}"
            for v in (Verdict.FAILED, Verdict.WARNING, Verdict.PASSED, Verdict.INFORMATIONAL)
        )
        out.write(f"  requirements: {shown}\n")
        counts = Counter(f.requirement or "TRANSCRIPT" for f in report.findings)
        if counts:
            listed = ", ".join(f"{rid} x{n}" for rid, n in sorted(counts.items()))
            out.write(f"  findings: {listed}\n")
        if self.silenced:
            quiet = sum(self.silenced.values())
            out.write(f"  {quiet} findings were counted but not printed (see the reports)\n")
        out.write("\n" + "\n".join(lead_lines(run, registry)) + "\n")
        if files:
            out.write("\nwritten:\n" + "".join(f"  {path}\n" for path in files))
        out.write(f"\nExit status {status}: {why}\n")
        out.flush()

"""The console table of a stress run: how the server was measured (once, when every probe
measured it the same way), then per probe what was sent, what came back, the figures and the
rules; then one line per probe; and the summary (:func:`format_summary`). The same data is
in report.json (each check's ``details``) and report.html (each check's message)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from conformance.stress.figures import ProbeReport

__all__ = ["format_reports", "format_summary"]

_WIDTH = 100


def _wrapped(label: str, text: str) -> list[str]:
    lines = textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=f"  {label:<10} ",
        subsequent_indent=" " * 13,
        break_on_hyphens=False,
    )
    return lines or [f"  {label}"]


def format_reports(reports: Sequence[ProbeReport], heading: str) -> str:
    """The table as text (no trailing newline)."""
    out = [heading, ""]
    kinds = {r.instruments for r in reports if r.instruments}
    shared = kinds.pop() if len(kinds) == 1 else None
    if shared is not None:
        out += _wrapped("measured", shared)
        out.append("")
    for report in reports:
        out.append(f"{report.probe}: {report.verdict.value} ({report.duration_s:.1f} s)")
        out += _wrapped("sent", report.sent)
        out += _wrapped("came back", report.came_back)
        if report.figures:
            width = max(len(f.label) for f in report.figures)
            out.append("  figures")
            out += [f"    {f.label:<{width}}  {f.text()}" for f in report.figures]
        for rule in report.rules:
            out += _wrapped("WARNING" if rule.broken else "ok", rule.text)
        for note in report.notes:
            out += _wrapped("note", note)
        measured = report.measured
        if report.instruments and report.instruments != shared:
            measured += f"; {report.instruments}"
        out += _wrapped("measured", measured)
        if report.server:
            out += _wrapped("server", report.server)
        out.append("")
    width = max((len(r.probe) for r in reports), default=5)
    out.append(f"{'probe':<{width}}  {'verdict':<13}  {'s':>6}  first finding")
    for report in reports:
        first = textwrap.shorten(report.headline(), width=_WIDTH - width - 26, placeholder=" ...")
        out.append(
            f"{report.probe:<{width}}  {report.verdict.value:<13}  "
            f"{report.duration_s:>6.1f}  {first}"
        )
    return "\n".join(out)


def format_summary(reports: Sequence[ProbeReport], duration_s: float) -> str:
    """The last lines of a run: the verdicts and what they mean for a stress run (the
    suite's summary speaks of requirements and SHOULDs, which a stress probe has none of)."""
    counts = {
        v: sum(1 for r in reports if r.verdict.value == v) for v in ("WARNING", "INFORMATIONAL")
    }
    meaning = textwrap.fill(
        "WARNING: a figure broke a limit the server declared or a stress limit (limits.*); "
        "INFORMATIONAL: every limit that could be judged held. Stress figures are not "
        "conformance verdicts: neither fails the run.",
        width=_WIDTH,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    return (
        f"responses-ws stress: {len(reports)} probes in {duration_s:.1f} s: "
        f"WARNING {counts['WARNING']}  INFORMATIONAL {counts['INFORMATIONAL']}\n{meaning}"
    )

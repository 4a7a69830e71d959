"""What every report leads with, as plain text: the violated requirements, each once with its
first evidence, then the requirements blocked by them, then those that could not be tested.

The console prints these lines first in its summary and ``junit.xml`` carries them in the
``<system-out>`` of its ``<testsuites>``; report.json holds the same data as ``violations``,
``blocked`` and ``untestable`` and report.html renders it. All of them read it from
:mod:`conformance.results`, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from conformance.requirements import Requirement
from conformance.results import RunResult, Verdict, blocked, untestable, violations

__all__ = ["lead_lines", "violated_heading"]


def _level(registry: Mapping[str, Requirement], requirement: str) -> str:
    found = registry.get(requirement)
    return found.level if found is not None else "-"


def violated_heading(run: RunResult) -> str:
    """``"N requirements violated"`` (MUST), with the SHOULDs not met when there are any."""
    found = violations(run.checks)
    must = sum(1 for v in found if v.verdict is Verdict.FAILED)
    should = len(found) - must
    text = f"{must} requirement{'' if must == 1 else 's'} violated"
    if should:
        text += f", {should} SHOULD not met"
    return text


def lead_lines(run: RunResult, registry: Mapping[str, Requirement]) -> list[str]:
    """The root causes of ``run`` as lines of text (no trailing newlines)."""
    lines = [violated_heading(run) + (":" if violations(run.checks) else ".")]
    for v in violations(run.checks):
        lines.append(
            f"  {v.requirement} ({_level(registry, v.requirement)}), first seen in {v.check}:"
        )
        lines.extend(f"      {line}" for line in v.message.strip().splitlines())
        others = [c for c in v.seen_in if c != v.check]
        if others:
            lines.append(f"      also seen in: {', '.join(others)}")
    stuck = blocked(run.checks)
    if stuck:
        lines.append("")
        lines.append(
            f"{len(stuck)} requirement{'' if len(stuck) == 1 else 's'} blocked (not judged: "
            "they rely on a violated requirement; fix that one first):"
        )
        for b in stuck:
            lines.append(
                f"  {b.requirement} ({_level(registry, b.requirement)}) blocked by "
                f"{', '.join(b.blocked_by)} in {', '.join(b.checks)}"
            )
    cannot = untestable(run.checks)
    if cannot:
        lines.append("")
        lines.append(
            f"{len(cannot)} requirement{'' if len(cannot) == 1 else 's'} could not be tested "
            "(FAILED, though no violation was seen):"
        )
        for requirement, found in cannot.items():
            for check, why in found:
                first = why.strip().splitlines()[0] if why.strip() else ""
                lines.append(f"  {requirement} in {check}: {first}")
    return lines

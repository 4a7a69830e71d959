"""The console side of a run: live progress while checks finish, and a summary at the end.

``Progress`` prints one character per finished check (``.`` PASSED, ``F`` FAILED, ``B``
BLOCKED, ``x`` expected failure, ``W`` WARNING, ``i`` INFORMATIONAL, ``s`` SKIPPED; its
:meth:`Progress.legend` says so), wrapping lines with a running count, or with ``verbose`` one
line per check. ``print_summary`` prints the counts per verdict, then root cause first: the
violated requirements, each once with its first evidence, the requirements blocked by them and
those that could not be tested (:mod:`.lead`); then every FAILED check with what broke its own
requirements, one line per SKIPPED check with its reason, the untested MUST/SHOULD
requirements with why, the baseline's stale and unmatched entries, warnings, and why the exit
status is what it is.

The summary also carries one line of requirement coverage by level ("requirements (server):
MUST 81/90 tested, SHOULD 7/8, MAY 1/15; 8 excluded, 2 MUST/SHOULD untested"), computed by
:mod:`conformance.traceability` from the run's report data exactly as ``responses-ws trace``
computes it, so that the console and the matrix can never disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

from conformance.baseline import (
    ExpectedFailure,
    StaleEntry,
    apply_expected_failures,
    exit_reasons,
    exit_status,
    expected_failure_reason,
    is_unexpected_failure,
)
from conformance.reports._common import VERDICT_ORDER, count_verdicts, load_registry_or_empty
from conformance.reports.lead import lead_lines
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, Verdict

__all__ = ["PROGRESS_CHARS", "Progress", "coverage_line", "print_summary", "run_role"]

PROGRESS_CHARS: dict[Verdict, str] = {
    Verdict.PASSED: ".",
    Verdict.FAILED: "F",
    Verdict.WARNING: "W",
    Verdict.INFORMATIONAL: "i",
    Verdict.SKIPPED: "s",
    Verdict.BLOCKED: "B",
}
_EXPECTED_CHAR = "x"


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines())


class Progress:
    """Live progress printer; call :meth:`check_finished` as each check ends, then
    :meth:`finish`."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        verbose: bool = False,
        total: int | None = None,
        baseline: Sequence[ExpectedFailure] = (),
        width: int = 60,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.verbose = verbose
        self.total = total
        self.baseline = tuple(baseline)
        self.width = width
        self.done = 0
        self._column = 0

    def _expected_reason(self, check: CheckResult) -> str | None:
        if check.verdict is not Verdict.FAILED or not self.baseline:
            return expected_failure_reason(check)
        one = RunResult(checks=(check,), started_at="", duration_s=0.0, target={})
        adjusted, _stale = apply_expected_failures(one, self.baseline)
        return expected_failure_reason(adjusted.checks[0])

    @staticmethod
    def legend() -> str:
        """What the progress marks mean (one line)."""
        marks = [
            f"{PROGRESS_CHARS[Verdict.PASSED]} PASSED",
            f"{PROGRESS_CHARS[Verdict.FAILED]} FAILED",
        ]
        marks.append(
            f"{PROGRESS_CHARS[Verdict.BLOCKED]} BLOCKED (relies on a violated requirement)"
        )
        marks.append(f"{_EXPECTED_CHAR} expected failure")
        marks.extend(
            f"{PROGRESS_CHARS[v]} {v.value}"
            for v in (Verdict.WARNING, Verdict.INFORMATIONAL, Verdict.SKIPPED)
        )
        return (
            "progress: " + ", ".join(marks) + "; a mark is final only in the summary (an F "
            "becomes B when the run later sees the requirement it relied on violated)"
        )

    def _count(self) -> str:
        return f"[{self.done}/{self.total}]" if self.total is not None else f"[{self.done}]"

    def check_finished(self, check: CheckResult) -> None:
        """Report one finished check."""
        self.done += 1
        reason = self._expected_reason(check)
        if self.verbose:
            label = "XFAIL" if reason is not None else check.verdict.value
            line = f"{self._count():>9} {label:<13} {check.id} ({check.duration_s:.2f} s)"
            if reason is not None:
                line += f"\n{_indent('expected failure: ' + reason)}"
            elif check.verdict is not Verdict.PASSED and check.message:
                line += f"\n{_indent(check.message.splitlines()[0])}"
            self.stream.write(line + "\n")
        else:
            char = _EXPECTED_CHAR if reason is not None else PROGRESS_CHARS[check.verdict]
            self.stream.write(char)
            self._column += 1
            if self._column >= self.width:
                self.stream.write(f" {self._count()}\n")
                self._column = 0
        self.stream.flush()

    def __call__(self, check: CheckResult, done: int, total: int) -> None:
        """The runner's progress-callback form: ``progress(result, done, total)``."""
        self.total = total
        self.check_finished(check)
        self.done = done

    def finish(self) -> None:
        """End the progress output (closes a partly filled line)."""
        if not self.verbose and self._column:
            self.stream.write(f" {self._count()}\n")
            self._column = 0
        self.stream.flush()


def run_role(run: RunResult) -> str:
    """Whose requirements the run judged: ``client`` for a client-suite run (its target says
    ``"suite": "client"``), else ``server``."""
    return "client" if run.target.get("suite") == "client" else "server"


def coverage_line(
    run: RunResult,
    registry: Mapping[str, Requirement],
    exclusions: Mapping[str, str] | None = None,
    *,
    role: str | None = None,
) -> str:
    """One line of requirement coverage by level, from the traceability matrix of this run
    (``exclusions``: requirement id -> reason; by default the suite's exclusions file)."""
    # Imported here, not at the top: conformance.traceability imports this package's
    # _common module, so a module-level import would be circular.
    from conformance import traceability
    from conformance.reports.json_report import build_report

    role = role or run_role(run)
    if exclusions is None:
        exclusions = traceability.load_exclusions()
    report = build_report(run, registry=registry)
    matrix = traceability.build_matrix(report, registry, exclusions, role=role)
    totals = matrix.totals()
    levels = [
        f"{level} {totals[level]['tested']}/{totals[level]['total']}"
        for level in ("MUST", "SHOULD", "MAY")
        if totals[level]["total"]
    ]
    if levels:
        levels[0] += " tested"
    tail = [f"{totals['all']['excluded']} excluded"]
    gaps = matrix.gaps()
    tail.append(f"{len(gaps)} MUST/SHOULD untested" if gaps else "no MUST/SHOULD untested")
    return f"requirements ({role}): {', '.join(levels) or 'none'}; {', '.join(tail)}"


def _first(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _own_findings(check: CheckResult) -> str:
    """What broke the check's own requirements: the prerequisite and each own requirement's
    evidence (what it saw of other requirements is in the lead, under those)."""
    lines = [line for line in check.message.splitlines() if line.startswith("prerequisite")]
    seen: set[str] = set()
    for e in check.evidence:
        if e.requirement not in check.requirements:
            continue
        if check.requirement_verdicts.get(e.requirement) not in (Verdict.FAILED, Verdict.WARNING):
            continue
        if e.requirement in seen or e.message.startswith("prerequisite"):
            continue  # the first evidence of each requirement; the lead has the rest
        seen.add(e.requirement)
        lines.append(f"{e.requirement} ({e.verdict.value}): {e.message}")
    return "\n".join(lines) if lines or check.evidence else check.message


def _write_untested(
    out: TextIO,
    run: RunResult,
    registry: Mapping[str, Requirement],
    exclusions: Mapping[str, str] | None,
) -> None:
    """The MUST/SHOULD requirements no check that ran tested, each with why (the skip
    reason of the checks that would have tested it)."""
    from conformance import traceability
    from conformance.reports.json_report import build_report

    try:
        chosen = traceability.load_exclusions() if exclusions is None else exclusions
        matrix = traceability.build_matrix(
            build_report(run, registry=registry), registry, chosen, role=run_role(run)
        )
    except ValueError:
        return  # the coverage line already said why
    gaps = matrix.gaps()
    if not gaps:
        return
    reasons = {c.id: _first(c.message) for c in run.checks if c.verdict is Verdict.SKIPPED}
    out.write(f"\nUntested MUST/SHOULD requirements ({len(gaps)}):\n")
    for row in gaps:
        skips = [t.check for t in row.checks if t.check in reasons]
        why = f"{reasons[skips[0]]} ({', '.join(skips)})" if skips else row.reason
        out.write(f"  {row.id} ({row.level}): {why}\n")


def print_summary(
    run: RunResult,
    stale: Iterable[StaleEntry] = (),
    *,
    unmatched: Iterable[ExpectedFailure] = (),
    stream: TextIO | None = None,
    registry: Mapping[str, Requirement] | None = None,
    exclusions: Mapping[str, str] | None = None,
) -> int:
    """Print the end-of-run summary and return the exit status it explains. ``registry`` and
    ``exclusions`` feed the coverage line (default: the project's registry and the suite's
    exclusions file; the line is left out when the registry cannot be read)."""
    out = stream if stream is not None else sys.stdout
    stale = tuple(stale)
    counts = count_verdicts(run.checks)
    target = run.target.get("server_url") or run.target.get("url") or ""
    against = f" against {target}" if target else ""
    out.write(
        f"\nresponses-ws conformance: {len(run.checks)} checks in {run.duration_s:.2f} s{against}\n"
    )
    parts = []
    for verdict in VERDICT_ORDER:
        text = f"{verdict.value} {counts[verdict.value]}"
        if verdict is Verdict.FAILED and counts["expected_failure"]:
            text += f" ({counts['expected_failure']} expected)"
        parts.append(text)
    out.write("  " + "  ".join(parts) + "\n")
    known = registry if registry is not None else load_registry_or_empty()
    if known:
        try:
            out.write(f"  {coverage_line(run, known, exclusions)}\n")
        except ValueError as exc:  # an unreadable exclusions file must not hide the verdicts
            out.write(f"  requirements: coverage unavailable ({exc})\n")

    if known or run.checks:
        out.write("\n" + "\n".join(lead_lines(run, known)) + "\n")

    failed = [c for c in run.checks if is_unexpected_failure(c)]
    if failed:
        out.write("\nFAILED:\n")
        for check in failed:
            out.write(f"  {check.id} [{' '.join(check.requirements)}]\n")
            own = _own_findings(check)
            if own:
                out.write(_indent(own) + "\n")
    skipped = [c for c in run.checks if c.verdict is Verdict.SKIPPED]
    if skipped:
        out.write("\nSKIPPED:\n")
        for check in skipped:
            out.write(f"  {check.id}: {_first(check.message) or 'skipped'}\n")
    if known:
        _write_untested(out, run, known, exclusions)
    if stale:
        out.write("\nSTALE expected-failures entries (listed, but no longer failing):\n")
        for stale_entry in stale:
            out.write(f"  {stale_entry.message}\n")
    expected = [c for c in run.checks if expected_failure_reason(c) is not None]
    if expected:
        out.write("\nExpected failures (listed in the expected-failures file):\n")
        for check in expected:
            out.write(f"  {check.id}: {expected_failure_reason(check)}\n")
    unmatched = tuple(unmatched)
    if unmatched:
        out.write("\nExpected-failures entries that matched no check that ran (not an error):\n")
        for entry in unmatched:
            out.write(f"  {entry.describe()}\n")
    warnings = [c for c in run.checks if c.verdict is Verdict.WARNING]
    if warnings:
        out.write("\nWARNING (a SHOULD is not met; does not fail the run):\n")
        for check in warnings:
            first = check.message.splitlines()[0] if check.message else ""
            out.write(f"  {check.id}: {first}\n")

    status = exit_status(run, stale)
    reasons = exit_reasons(run, stale)
    if status:
        out.write(f"\nExit status {status}: " + "; ".join(reasons) + "\n")
    else:
        out.write("\nExit status 0: no unexpected failure, no stale expected-failures entry.\n")
    out.flush()
    return status

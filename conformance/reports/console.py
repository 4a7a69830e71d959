"""The console side of a run: live progress while checks finish, and a summary at the end.

``Progress`` prints one character per finished check (``.`` PASSED, ``F`` FAILED, ``x``
expected failure, ``W`` WARNING, ``i`` INFORMATIONAL, ``s`` SKIPPED), wrapping lines with a
running count, or with ``verbose`` one line per check. ``print_summary`` prints the counts
per verdict, every failure with its expected-versus-actual message, the baseline's stale and
unmatched entries, warnings, and why the exit status is what it is.

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
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, Verdict

__all__ = ["PROGRESS_CHARS", "Progress", "coverage_line", "print_summary", "run_role"]

PROGRESS_CHARS: dict[Verdict, str] = {
    Verdict.PASSED: ".",
    Verdict.FAILED: "F",
    Verdict.WARNING: "W",
    Verdict.INFORMATIONAL: "i",
    Verdict.SKIPPED: "s",
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

    failed = [c for c in run.checks if is_unexpected_failure(c)]
    if failed:
        out.write("\nFAILED:\n")
        for check in failed:
            out.write(f"  {check.id} [{' '.join(check.requirements)}]\n")
            if check.message:
                out.write(_indent(check.message) + "\n")
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

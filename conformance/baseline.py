"""Expected failures ("baseline"): known failures of an implementation, listed in a file so
that they do not fail the run, and so that the list cannot silently go stale.

The semantics are MCP conformance's, which we adopt unchanged because they keep a baseline
honest in both directions:

* a check that FAILED and is not listed fails the run;
* a check that FAILED and is listed is an *expected failure*: its verdict stays FAILED (the
  reports still show what broke) but ``details["expected_failure"]`` holds the reason and the
  exit status ignores it;
* a listed check that ran and no longer fails makes the entry *stale*, and a stale entry
  fails the run, so a fixed bug forces the entry out of the file;
* an entry whose checks did not run at all (filtered out, or SKIPPED because a profile is not
  declared) is *unmatched*: reported, but not a failure, because nothing was learnt about it.

The file is YAML, a list of entries::

    - check: cache.store-false-miss-after-reconnect   # a check id, or an fnmatch pattern
      requirement: RWS-CACHE-4                        # optional: only this requirement
      reason: our cache outlives the socket (issue 12)

An entry with ``requirement`` covers a failing check only for that requirement: the failure
is expected only when every requirement the check failed is covered by some entry.

Root cause first (:mod:`conformance.results`): a check whose own requirements passed but that
saw another requirement violated on the way is not FAILED; that violation fails the run on
its own unless an entry names the requirement (``requirement:``) and a check that saw it. A
BLOCKED check fails the run only through its blocker, and an entry that lists it is not stale:
the check still did not pass.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.results import CheckResult, RunResult, Verdict, Violation, violations

__all__ = [
    "EXPECTED_FAILURE_KEY",
    "EXPECTED_VIOLATIONS_KEY",
    "BaselineError",
    "ExpectedFailure",
    "StaleEntry",
    "apply_expected_failures",
    "exit_reasons",
    "exit_status",
    "expected_failure_reason",
    "is_unexpected_failure",
    "load_expected_failures",
    "parse_expected_failures",
    "unexpected_violations",
    "unmatched_entries",
]

# The key under CheckResult.details that marks a listed failure; its value is the reason.
EXPECTED_FAILURE_KEY = "expected_failure"
# The key under CheckResult.details that lists the violations of other requirements the check
# saw on the way and an entry covers: requirement id -> reason.
EXPECTED_VIOLATIONS_KEY = "expected_violations"

_REQUIREMENT_ID = re.compile(r"^RWS-[A-Z]+-[0-9]+$")


class BaselineError(ValueError):
    """The expected-failures file is malformed."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(source, problem)
        self.source = source
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"


@dataclass(frozen=True, kw_only=True)
class ExpectedFailure:
    """One entry of the expected-failures file."""

    check: str  # a check id or an fnmatch pattern over check ids
    reason: str
    requirement: str | None = None

    def matches(self, check: CheckResult) -> bool:
        """Whether this entry names ``check`` (and, if scoped, one of its requirements or a
        requirement it concluded about on the way)."""
        if not fnmatch.fnmatchcase(check.id, self.check):
            return False
        return (
            self.requirement is None
            or self.requirement in check.requirements
            or self.requirement in check.requirement_verdicts
        )

    def describe(self) -> str:
        """The entry as a person writes it: ``check`` or ``check [requirement]``."""
        if self.requirement is None:
            return self.check
        return f"{self.check} [{self.requirement}]"


@dataclass(frozen=True, kw_only=True)
class StaleEntry:
    """A listed entry whose checks ran and did not fail as listed."""

    entry: ExpectedFailure
    observed: tuple[tuple[str, Verdict], ...]  # (check id, verdict) of every matched check

    @property
    def message(self) -> str:
        """Why the entry is stale, for consoles and reports."""
        seen = ", ".join(f"{check_id} {verdict.value}" for check_id, verdict in self.observed)
        return f"expected failure {self.entry.describe()} is stale: {seen}; remove the entry"


def parse_expected_failures(
    data: object, source: str = "<expected failures>"
) -> tuple[ExpectedFailure, ...]:
    """Validate the parsed YAML of an expected-failures file and return its entries."""
    if data is None:  # an empty file lists nothing
        return ()
    if not isinstance(data, list):
        raise BaselineError(source, "the file must be a YAML list of entries")
    entries: list[ExpectedFailure] = []
    for index, item in enumerate(data):
        where = f"{source}: entry {index + 1}"
        if not isinstance(item, Mapping):
            raise BaselineError(where, "an entry must be a mapping with 'check' and 'reason'")
        unknown = set(item) - {"check", "requirement", "reason"}
        if unknown:
            raise BaselineError(where, f"unknown keys {sorted(map(str, unknown))}")
        check = item.get("check")
        reason = item.get("reason")
        requirement = item.get("requirement")
        if not isinstance(check, str) or not check.strip():
            raise BaselineError(where, "'check' must be a non-empty check id or pattern")
        # A reason is mandatory: a baseline without reasons is how skip lists rot.
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(where, "'reason' must be a non-empty text")
        if requirement is not None and (
            not isinstance(requirement, str) or not _REQUIREMENT_ID.match(requirement)
        ):
            raise BaselineError(
                where, f"'requirement' must be an ID like RWS-CACHE-4, not {requirement!r}"
            )
        entries.append(
            ExpectedFailure(check=check.strip(), reason=reason.strip(), requirement=requirement)
        )
    return tuple(entries)


def load_expected_failures(path: str | Path) -> tuple[ExpectedFailure, ...]:
    """Read an expected-failures YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BaselineError(str(path), f"not valid YAML: {exc}") from exc
    return parse_expected_failures(data, str(path))


def _failed_requirements(check: CheckResult) -> frozenset[str]:
    """The requirements a FAILED check failed; all of them when it did not say which
    (a prerequisite that could not be set up fails the check as a whole)."""
    failed = frozenset(
        req
        for req, verdict in check.requirement_verdicts.items()
        if verdict is Verdict.FAILED and req in check.requirements
    )
    return failed or frozenset(check.requirements)


def _covering_entries(
    check: CheckResult, baseline: Sequence[ExpectedFailure]
) -> tuple[ExpectedFailure, ...]:
    """The entries that together make this FAILED check an expected failure, or ``()``."""
    matching = [entry for entry in baseline if entry.matches(check)]
    whole = [entry for entry in matching if entry.requirement is None]
    if whole:
        return tuple(whole)
    scoped = [entry for entry in matching if entry.requirement is not None]
    covered = {entry.requirement for entry in scoped}
    if scoped and _failed_requirements(check) <= covered:
        return tuple(scoped)
    return ()


def _entry_target_fails(entry: ExpectedFailure, check: CheckResult) -> bool:
    """Whether the thing the entry lists (the check, or one requirement of it) failed; a
    BLOCKED one did not pass either, so its entry is not stale."""
    if entry.requirement is None:
        return check.verdict in (Verdict.FAILED, Verdict.BLOCKED)
    verdict = check.requirement_verdicts.get(entry.requirement)
    if entry.requirement not in check.requirements:
        return verdict in (Verdict.FAILED, Verdict.BLOCKED)  # seen on the way
    if verdict is Verdict.BLOCKED:
        return True
    return check.verdict is Verdict.FAILED and entry.requirement in _failed_requirements(check)


def apply_expected_failures(
    run: RunResult, baseline: Sequence[ExpectedFailure]
) -> tuple[RunResult, tuple[StaleEntry, ...]]:
    """Mark listed failures as expected and find the stale entries.

    Returns the run with ``details["expected_failure"]`` set on every FAILED check the baseline
    covers (verdicts are not changed), and the entries that are stale.
    """
    checks: list[CheckResult] = []
    for check in run.checks:
        if check.verdict is Verdict.FAILED:
            covering = _covering_entries(check, baseline)
            if covering:
                reason = "; ".join(dict.fromkeys(entry.reason for entry in covering))
                details = {**check.details, EXPECTED_FAILURE_KEY: reason}
                check = dataclasses.replace(check, details=details)
        seen = {
            requirement: "; ".join(
                dict.fromkeys(
                    e.reason
                    for e in baseline
                    if e.matches(check) and e.requirement in (None, requirement)
                )
            )
            for requirement, verdict in check.observed().items()
            if verdict is Verdict.FAILED
        }
        covered = {requirement: reason for requirement, reason in seen.items() if reason}
        if covered:
            details = {**check.details, EXPECTED_VIOLATIONS_KEY: covered}
            check = dataclasses.replace(check, details=details)
        checks.append(check)

    stale: list[StaleEntry] = []
    for entry in baseline:
        ran = [c for c in run.checks if entry.matches(c) and c.verdict is not Verdict.SKIPPED]
        # An entry that matched nothing that ran is unmatched, not stale: nothing was learnt.
        if ran and not any(_entry_target_fails(entry, c) for c in ran):
            stale.append(StaleEntry(entry=entry, observed=tuple((c.id, c.verdict) for c in ran)))
    return dataclasses.replace(run, checks=tuple(checks)), tuple(stale)


def unmatched_entries(
    run: RunResult, baseline: Sequence[ExpectedFailure]
) -> tuple[ExpectedFailure, ...]:
    """Entries that matched no check that ran (a typo, a filtered run, an undeclared profile)."""
    return tuple(
        entry
        for entry in baseline
        if not any(entry.matches(c) and c.verdict is not Verdict.SKIPPED for c in run.checks)
    )


def expected_failure_reason(check: CheckResult) -> str | None:
    """The baseline reason when ``check`` is an expected failure, else ``None``."""
    if check.verdict is not Verdict.FAILED:
        return None
    reason: Any = check.details.get(EXPECTED_FAILURE_KEY)
    return str(reason) if reason is not None else None


def is_unexpected_failure(check: CheckResult) -> bool:
    """Whether ``check`` FAILED and the baseline does not list it."""
    return check.verdict is Verdict.FAILED and expected_failure_reason(check) is None


def unexpected_violations(run: RunResult) -> list[Violation]:
    """MUST violations the run saw only on the way (no check that tests the requirement saw
    it) that no expected-failures entry covers in every check that saw them."""
    by_id = {check.id: check for check in run.checks}
    out = []
    for violation in violations(run.checks):
        if violation.verdict is not Verdict.FAILED or violation.own_in:
            continue  # a SHOULD warns; a check that tests it FAILED and counts on its own
        covered = all(
            violation.requirement in (by_id[c].details.get(EXPECTED_VIOLATIONS_KEY) or {})
            for c in violation.seen_in
        )
        if not covered:
            out.append(violation)
    return out


def exit_reasons(run: RunResult, stale: Iterable[StaleEntry] = ()) -> list[str]:
    """Why the run fails, one line per reason; empty when it passes."""
    reasons: list[str] = []
    # A run that executed nothing must not read as green (h2spec's "No matched tests" exit 0).
    if not any(c.verdict is not Verdict.SKIPPED for c in run.checks):
        reasons.append("no check ran" if not run.checks else "every check was SKIPPED")
    failed = [c.id for c in run.checks if is_unexpected_failure(c)]
    if failed:
        reasons.append(f"{len(failed)} check(s) FAILED: {', '.join(failed)}")
    seen = unexpected_violations(run)
    if seen:
        named = ", ".join(f"{v.requirement} (seen in {', '.join(v.seen_in)})" for v in seen)
        reasons.append(f"{len(seen)} requirement(s) violated on the way: {named}")
    stale_list = list(stale)
    if stale_list:
        names = ", ".join(s.entry.describe() for s in stale_list)
        reasons.append(f"{len(stale_list)} expected-failures entry(ies) stale: {names}")
    return reasons


def exit_status(run: RunResult, stale: Iterable[StaleEntry] = ()) -> int:
    """0 when the run passes; 1 when a check FAILED unexpectedly, a requirement was violated
    on the way, an entry is stale, or no check ran. WARNING, INFORMATIONAL and SKIPPED never
    fail the run; BLOCKED fails it through its blocker."""
    return 1 if exit_reasons(run, stale) else 0

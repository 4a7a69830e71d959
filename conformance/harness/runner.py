"""Run scenarios against a server and turn what happened into :mod:`conformance.results`.

For each scenario: skip it (with the reason) when its profile is not declared or it needs the
scripted model; otherwise run it with a fresh transcript, feed that transcript to the
sans-I/O checker, and merge the checker's findings with the scenario's own expectations into
one :class:`~conformance.results.CheckResult`. The requirement's level decides FAILED versus
WARNING; a prerequisite that could not be set up is FAILED, never skipped.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import trio
from websockets.exceptions import ConnectionClosed

from conformance.harness.checking import CheckerFinding, check_transcript, harness_findings
from conformance.harness.config import SuiteConfig
from conformance.harness.context import (
    CheckFailure,
    Expectation,
    PrerequisiteFailed,
    ScenarioContext,
    level_verdict,
)
from conformance.harness.registry import Scenario
from conformance.harness.wire import ConnectionClosedError, ExpectationTimeout, Recorder
from conformance.requirements import Requirement, load_requirements
from conformance.results import (
    CHECK_SEVERITY,
    CheckResult,
    Evidence,
    RunResult,
    Verdict,
    check_verdict,
    resolve,
    worst,
)
from conformance.wording import not_exercised

__all__ = [
    "WORST_FIRST",
    "conclude",
    "merge_verdicts",
    "run_scenario",
    "run_suite",
    "select_scenarios",
    "worst",
]

# Verdict precedence when several conclusions about one thing meet (conformance.results).
WORST_FIRST: tuple[Verdict, ...] = tuple(
    sorted(CHECK_SEVERITY, key=CHECK_SEVERITY.__getitem__, reverse=True)
)

Progress = Callable[[CheckResult, int, int], None]


def suite_version() -> str:
    """The installed version of the suite."""
    try:
        return importlib.metadata.version("responses-ws")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source tree only
        return "unknown"


def select_scenarios(
    scenarios: Iterable[Scenario],
    *,
    ids: Sequence[str] = (),
    requirements: Sequence[str] = (),
) -> list[Scenario]:
    """Keep the scenarios whose id is in ``ids`` or that check one of ``requirements``.

    With neither filter every scenario is kept.
    """
    chosen = list(scenarios)
    if not ids and not requirements:
        return chosen
    wanted = set(requirements)
    return [s for s in chosen if s.id in ids or wanted.intersection(s.requirements)]


def _skipped(scn: Scenario, reason: str) -> CheckResult:
    return CheckResult(
        id=scn.id,
        title=scn.title,
        requirements=scn.requirements,
        verdict=Verdict.SKIPPED,
        duration_s=0.0,
        message=reason,
        wire_log=(),
        requirement_verdicts=dict.fromkeys(scn.requirements, Verdict.SKIPPED),
        details={"skip_reason": reason, "drives": scn.drives},
    )


def _level(requirements: Mapping[str, Requirement], requirement_id: str) -> str:
    found = requirements.get(requirement_id)
    return found.level if found is not None else "MUST"


# What a conclusion at a wire position relies on: (requirement, position or None for "the
# end") -> requirements (ScenarioContext.relied_on).
Reliance = Callable[[str, int | None], tuple[str, ...]]


def _relies_on_nothing(requirement: str, position: int | None) -> tuple[str, ...]:
    return ()


def _expectation(item: Expectation | tuple[str, bool, str]) -> Expectation:
    return item if isinstance(item, Expectation) else Expectation(*item)


def conclude(
    scn: Scenario,
    requirements: Mapping[str, Requirement],
    expectations: Sequence[Expectation | tuple[str, bool, str]],
    findings: Mapping[str, CheckerFinding],
    prerequisite: str | None,
    not_applicable: Mapping[str, str] | None = None,
    *,
    relied: Reliance = _relies_on_nothing,
    stopped_by: str | None = None,
    transcript: Sequence[Mapping[str, Any]] = (),
) -> tuple[dict[str, Verdict], list[str], tuple[Evidence, ...]]:
    """Combine scenario expectations and checker findings into per-requirement verdicts.

    Returns the verdicts, the messages (one per broken requirement) and the evidence behind
    every conclusion that is not a pass. A requirement the scenario declares that nothing
    exercised is FAILED: the check could not test it (evidence that is no violation).
    ``relied`` says what a conclusion relied on; ``stopped_by``: the requirement whose
    violation stopped the scenario (what it had not concluded yet relied on it);
    ``transcript``: the check's records, to say what the server sent instead of what a
    requirement needed.
    """
    verdicts: dict[str, list[Verdict]] = {}
    messages: list[str] = []
    evidence: list[Evidence] = []
    for item in expectations:
        expectation = _expectation(item)
        requirement_id = expectation.requirement
        level = _level(requirements, requirement_id)
        verdict = Verdict.PASSED if expectation.held else level_verdict(level)
        if level == "MAY":
            # Behaviour the spec leaves open is reported as data, never as a pass or fail.
            verdict = Verdict.INFORMATIONAL
        verdicts.setdefault(requirement_id, []).append(verdict)
        if not expectation.held:
            messages.append(f"{requirement_id} ({verdict.value}): {expectation.message}")
            last = (expectation.position - 1,) if expectation.position else ()
            evidence.append(
                Evidence(requirement_id, verdict, expectation.message, last, expectation.relies_on)
            )
    for requirement_id, finding in findings.items():
        declared = requirement_id in scn.requirements
        if finding.verdict is Verdict.PASSED and not declared:
            continue  # only the check's own requirements are reported when they hold
        verdicts.setdefault(requirement_id, []).append(finding.verdict)
        if finding.verdict not in (Verdict.PASSED, Verdict.SKIPPED):
            messages.append(f"{requirement_id} ({finding.verdict.value}): {finding.message}")
            occurrences = finding.occurrences or ((finding.verdict, finding.message, ()),)
            for verdict, message, records in occurrences:
                if verdict is not finding.verdict:
                    continue
                at = min(records) if records else None
                evidence.append(
                    Evidence(requirement_id, verdict, message, records, relied(requirement_id, at))
                )
    for requirement_id in not_applicable or {}:
        verdicts.setdefault(requirement_id, []).append(Verdict.SKIPPED)
    result = {requirement_id: worst(found) for requirement_id, found in verdicts.items()}

    def at_the_end(requirement_id: str) -> tuple[str, ...]:
        return relied(requirement_id, None)

    if prerequisite is not None:
        # "Could not test" is a failure, never a skip: every declared requirement the check
        # did not already conclude on fails with the prerequisite's message.
        messages.insert(0, f"prerequisite not met: {prerequisite}")
        for requirement_id in scn.requirements:
            if result.get(requirement_id) is not Verdict.PASSED:
                result[requirement_id] = Verdict.FAILED
                evidence.append(
                    Evidence(
                        requirement_id,
                        Verdict.FAILED,
                        f"prerequisite not met: {prerequisite}",
                        relies_on=at_the_end(requirement_id),
                        violation=False,
                    )
                )
    for requirement_id in scn.requirements:
        if requirement_id not in result:
            result[requirement_id] = Verdict.FAILED
            text = not_exercised(transcript)
            messages.append(f"{requirement_id} (FAILED): {text}")
            evidence.append(
                Evidence(
                    requirement_id,
                    Verdict.FAILED,
                    text,
                    relies_on=at_the_end(requirement_id),
                    violation=False,
                )
            )
    return result, messages, tuple(evidence)


def merge_verdicts(
    scn: Scenario,
    requirements: Mapping[str, Requirement],
    expectations: Sequence[Expectation | tuple[str, bool, str]],
    findings: Mapping[str, CheckerFinding],
    prerequisite: str | None,
    not_applicable: Mapping[str, str] | None = None,
) -> tuple[dict[str, Verdict], list[str]]:
    """The verdicts and messages of :func:`conclude` (without the evidence)."""
    verdicts, messages, _evidence = conclude(
        scn, requirements, expectations, findings, prerequisite, not_applicable
    )
    return verdicts, messages


async def run_scenario(
    scn: Scenario,
    config: SuiteConfig,
    requirements: Mapping[str, Requirement],
) -> CheckResult:
    """Run one scenario (or skip it) and return its result."""
    reason = scn.skip_reason(config)
    if reason is not None:
        return _skipped(scn, reason)
    recorder = Recorder()
    started = trio.current_time()
    prerequisite: str | None = None
    suite_error = False
    ctx: ScenarioContext | None = None
    with trio.move_on_after(config.scenario_timeout) as scope:
        async with trio.open_nursery() as nursery:
            ctx = ScenarioContext(config, nursery, recorder, requirements)
            try:
                await scn.func(ctx)
            except CheckFailure as failure:
                ctx.expect(failure.requirement, False, failure.message, relies_on=failure.relies_on)
                # The scenario stopped here: what it had not concluded relies on it.
                ctx.rely_on(failure.requirement, *failure.relies_on)
            except PrerequisiteFailed as exc:
                prerequisite = str(exc)
            except (ExpectationTimeout, ConnectionClosedError) as exc:
                # A wait the scenario did not guard itself: charge its first requirement.
                ctx.expect(scn.requirements[0], False, str(exc))
            except ConnectionClosed as exc:
                # The server closed a connection the scenario was still using.
                prerequisite = f"the server closed the connection unexpectedly ({exc})"
            except Exception as exc:
                # A bug of the scenario itself must not pass as a verdict about the server;
                # it fails the check and says so.
                prerequisite = f"suite error in the scenario: {type(exc).__name__}: {exc}"
                suite_error = True
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    for conn in ctx.connections:
                        await conn.close()
                nursery.cancel_scope.cancel()
    if scope.cancelled_caught:
        prerequisite = f"the scenario did not finish within {config.scenario_timeout:g} s"
    assert ctx is not None
    duration = trio.current_time() - started
    records = tuple(recorder.records)
    findings, exercised = check_transcript(records, config)
    verdicts, messages, evidence = conclude(
        scn,
        requirements,
        ctx.expectations,
        findings,
        prerequisite,
        ctx.skipped,
        relied=ctx.relied_on,
        transcript=records,
    )
    # The check's verdict is about its own requirements; what it saw of others is evidence
    # about those, reported once for the run (conformance.results.violations).
    verdict = check_verdict(scn.requirements, verdicts)
    details: dict[str, Any] = {"drives": scn.drives, **ctx.details}
    if ctx.skipped:
        details["not_applicable"] = dict(ctx.skipped)
    if suite_error:
        details["suite_error"] = True
    own = harness_findings(records, config, scn.deliberate)
    if own:
        # Kept as data (and asserted empty by the suite's own tests), never blamed on the server.
        details["harness_findings"] = own
    if exercised:
        details["exercised"] = dict(exercised)
    return CheckResult(
        id=scn.id,
        title=scn.title,
        requirements=scn.requirements,
        verdict=verdict,
        duration_s=round(duration, 4),
        message="" if verdict is Verdict.PASSED else "\n".join(messages),
        wire_log=records,
        requirement_verdicts=verdicts,
        details=details,
        evidence=evidence,
    )


async def run_suite(
    config: SuiteConfig,
    scenarios: Sequence[Scenario],
    *,
    jobs: int = 4,
    progress: Progress | None = None,
    requirements: Mapping[str, Requirement] | None = None,
) -> RunResult:
    """Run ``scenarios`` (at most ``jobs`` at a time) and return the whole run's result."""
    registry = requirements if requirements is not None else load_requirements()
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    start = trio.current_time()
    results: dict[str, CheckResult] = {}
    limiter = trio.CapacityLimiter(max(1, jobs))

    async def one(scn: Scenario) -> None:
        async with limiter:
            result = await run_scenario(scn, config, registry)
        results[scn.id] = result
        if progress is not None:
            # Resolved with what finished so far: a conclusion that relied on a requirement
            # already seen violated shows as BLOCKED; the returned run resolves over all.
            shown = resolve(list(results.values()))[-1]
            progress(shown, len(results), len(scenarios))

    async with trio.open_nursery() as nursery:
        for scn in scenarios:
            nursery.start_soon(one, scn)
    target = {**config.describe(), "suite_version": suite_version(), "jobs": jobs}
    # Root cause first: a conclusion that relied on a requirement the run saw violated is
    # BLOCKED by it (conformance.results.resolve).
    return RunResult(
        checks=resolve([results[s.id] for s in scenarios]),
        started_at=started_at,
        duration_s=round(trio.current_time() - start, 3),
        target=target,
    )

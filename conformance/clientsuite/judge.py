"""Verdicts of one client scenario: the checker over the captured traffic, plus the task.

Sans-I/O. :func:`judge` takes what a scenario run produced - the transcript the scripted
server recorded, its observations (upgrade requests, pings) and the client program's exit
status and output - and returns one :class:`~conformance.results.CheckResult`. Three sources
are combined:

* :func:`conformance.checker.judge.judge_transcript` for the client role, the same judgement
  ``responses-ws validate --role client`` gives a recorded transcript: the transcript checker
  (every ``response.create`` and frame the client sent: RWS-CREATE-1/2/8, RWS-TRANS-6,
  RWS-CLIENT-2/3/9) and the whole-transcript client rules (RWS-CLIENT-1/2/5, RWS-CREATE-13,
  RWS-ERR-7/9);
* the upgrade requests the scripted server saw (RWS-TRANS-19, :mod:`.upgrade`);
* the scenario's own expectations: the printed result, reconnections, pings, retries.

A task not done breaks the scenario's ``task_requirements``; a scenario without any (the
steering ones, whose requirements the transcript alone judges) is then FAILED as a
prerequisite that could not be set up, with the reason, but no requirement is charged with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.checker import CheckerConfig
from conformance.checker.client import create_contexts, essence
from conformance.checker.findings import LEVEL_VERDICTS
from conformance.checker.judge import explain, judge_transcript, records_of
from conformance.clientsuite.scenarios import ClientScenario, expected_texts
from conformance.clientsuite.script import BUSY_LANE
from conformance.clientsuite.upgrade import REQUIREMENT as CREDENTIAL
from conformance.clientsuite.upgrade import upgrades
from conformance.requirements import Requirement, load_requirements
from conformance.results import CheckResult, Verdict

__all__ = ["ClientOutcome", "check_id", "judge", "parse_output", "skipped"]

_SEVERITY = {
    Verdict.PASSED: 0,
    Verdict.INFORMATIONAL: 1,
    Verdict.WARNING: 2,
    Verdict.FAILED: 3,
    Verdict.SKIPPED: -1,
}
_WIRE_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class ClientOutcome:
    """How the client program ended."""

    exit_code: int | None  # None: killed at the scenario's timeout
    stdout: str
    stderr: str
    duration_s: float


def check_id(adapter: str, scenario: ClientScenario) -> str:
    """The report's check id: one entry per adapter and scenario."""
    return f"client.{adapter}.{scenario.id}"


def parse_output(stdout: str) -> list[str] | None:
    """The adapter contract's result: the last non-empty stdout line, either a JSON object
    with ``text`` (a string) or ``texts`` (a list of strings), or the plain text itself."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    try:
        value = json.loads(last)
    except ValueError:
        return [last]
    if isinstance(value, dict):
        if isinstance(value.get("texts"), list):
            return [str(t) for t in value["texts"]]
        if "text" in value:
            return [str(value["text"])]
    return [last]


def skipped(adapter: str, scenario: ClientScenario, reason: str) -> CheckResult:
    """A scenario the adapter does not declare the profile of."""
    return CheckResult(
        id=check_id(adapter, scenario),
        title=scenario.title,
        requirements=scenario.requirements,
        verdict=Verdict.SKIPPED,
        duration_s=0.0,
        message=reason,
        wire_log=(),
        requirement_verdicts={},
        details={"adapter": adapter, "area": "client", "scenario": scenario.id},
    )


def _short(text: str, limit: int = 160) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[: limit - 25]}... ({len(text)} chars)"


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.splitlines()[-lines:])[-3000:]


def _wire(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for record in records:
        text = record.get("text")
        if isinstance(text, str) and len(text) > _WIRE_TEXT_LIMIT:
            record = {
                **record,
                "text": text[:_WIRE_TEXT_LIMIT],
                "note": f"text truncated in the report: {len(text)} characters",
            }
        out.append(dict(record))
    return tuple(out)


def _events(records: Iterable[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any], Any]]:
    out: list[tuple[int, Mapping[str, Any], Any]] = []
    for index, record in enumerate(records):
        if record.get("kind") != "text":
            continue
        try:
            body = json.loads(str(record.get("text")))
        except ValueError:
            body = None
        out.append((index, record, body))
    return out


class _Verdicts:
    def __init__(self, registry: Mapping[str, Requirement]) -> None:
        self.registry = registry
        self.by_req: dict[str, Verdict] = {}
        self.messages: list[str] = []

    def set(self, requirement: str, verdict: Verdict, message: str = "") -> None:
        current = self.by_req.get(requirement)
        if current is None or _SEVERITY[verdict] > _SEVERITY[current]:
            self.by_req[requirement] = verdict
        if message:
            self.messages.append(f"{requirement}: {message}")

    def broken(self, requirement: str, message: str) -> None:
        level = self.registry[requirement].level if requirement in self.registry else "MUST"
        self.set(requirement, LEVEL_VERDICTS.get(level, Verdict.FAILED), message)


def judge(
    adapter: str,
    scenario: ClientScenario,
    profiles: Iterable[str],
    records: Sequence[Mapping[str, Any]],
    observations: Mapping[str, Any],
    outcome: ClientOutcome,
    *,
    requirements: Mapping[str, Requirement] | None = None,
) -> CheckResult:
    """The verdict of one scenario run of one client."""
    registry = requirements if requirements is not None else load_requirements()
    config = CheckerConfig.make(profiles, roles=("client",), busy_lane=BUSY_LANE)
    parsed = records_of(records)
    report = judge_transcript(parsed, config, requirements=registry)
    verdicts = _Verdicts(registry)
    for rid, verdict in report.verdicts().items():
        verdicts.set(rid, verdict)
    for finding in report.findings:
        words = "; ".join(explain(finding, parsed))
        text = f"{finding.message} [{words}]" if words else finding.message
        verdicts.messages.append(f"{finding.requirement or 'transcript'}: {text}")
    locked_out = _upgrades(observations, verdicts)
    unmet = _task(scenario, records, observations, outcome, verdicts, locked_out=locked_out)
    harness = list(observations.get("harness_errors") or [])
    for rid in scenario.requirements:
        # Exercised by the scenario's setup even when no rule fired (e.g. no retry needed),
        # unless the client never got in (RWS-TRANS-19).
        if rid not in verdicts.by_req and rid in _always_exercised(scenario) and not locked_out:
            verdicts.set(rid, Verdict.PASSED)
    judged = {r: v for r, v in verdicts.by_req.items() if r in registry}
    worst = max(judged.values(), key=lambda v: _SEVERITY[v], default=Verdict.PASSED)
    if outcome.exit_code is None and scenario.completes:
        worst = Verdict.FAILED
    if unmet:
        # A prerequisite of the scenario (its task) could not be set up.
        worst = Verdict.FAILED
        verdicts.messages.insert(0, f"task not completed: {unmet}")
    if harness:
        # Not the client's fault, but no verdict about it can stand either.
        worst = Verdict.FAILED
        verdicts.messages.insert(0, f"harness error (not the client's): {'; '.join(harness)}")
    requirement_ids = tuple(dict.fromkeys([*scenario.requirements, *sorted(judged)]))
    return CheckResult(
        id=check_id(adapter, scenario),
        title=scenario.title,
        requirements=requirement_ids,
        verdict=worst,
        duration_s=round(outcome.duration_s, 3),
        message="" if worst is Verdict.PASSED else "; ".join(dict.fromkeys(verdicts.messages)),
        wire_log=_wire(records),
        requirement_verdicts=judged,
        details={
            "adapter": adapter,
            "area": "client",
            "scenario": scenario.id,
            "description": scenario.description,
            "exit_code": outcome.exit_code,
            "timed_out": outcome.exit_code is None,
            "output": [_short(t) for t in parse_output(outcome.stdout) or []],
            "expected_output": [_short(t) for t in expected_texts(scenario)],
            "stderr_tail": _tail(outcome.stderr),
            "connections": sum(1 for r in records if r.get("kind") == "open"),
            "observations": dict(observations),
            "not_exercised": [
                r for r in scenario.requirements if r not in judged and r in registry
            ],
        },
    )


def _always_exercised(scenario: ClientScenario) -> frozenset[str]:
    return frozenset(scenario.task_requirements)


def _upgrades(observations: Mapping[str, Any], verdicts: _Verdicts) -> bool:
    """RWS-TRANS-19 for every upgrade request; whether one was refused for breaking it."""
    locked_out = False
    for seen in upgrades(observations):
        if seen.get("bearer"):
            verdicts.set(CREDENTIAL, Verdict.PASSED)
            continue
        refused = seen.get("status") == 401
        locked_out = locked_out or refused
        verdicts.broken(
            CREDENTIAL,
            f"expected the credential in `Authorization: Bearer <credential>` on the upgrade "
            f"request / actual {seen.get('description', 'an unrecorded upgrade')}"
            + ("; the server refused the upgrade (HTTP 401)" if refused else ""),
        )
    return locked_out


def _refusals(observations: Mapping[str, Any]) -> list[str]:
    return [
        str(seen["refusal"])
        for seen in upgrades(observations)
        if seen.get("bearer") and seen.get("refusal")
    ]


def _task(
    scenario: ClientScenario,
    records: Sequence[Mapping[str, Any]],
    observations: Mapping[str, Any],
    outcome: ClientOutcome,
    verdicts: _Verdicts,
    *,
    locked_out: bool = False,
) -> str:
    """Judge the task; the problem of a task not done that no requirement is charged with
    (the scenario has no ``task_requirements``), else ""."""
    unmet = ""
    events = _events(records)
    opens = [r for r in records if r.get("kind") == "open"]
    if scenario.completes:
        printed = parse_output(outcome.stdout)
        wanted = list(expected_texts(scenario))
        problem = ""
        if outcome.exit_code is None:
            problem = f"the client did not finish within {scenario.timeout:g} s"
        elif outcome.exit_code != 0:
            problem = f"the client exited with status {outcome.exit_code}"
        elif printed != wanted:
            got = "nothing" if printed is None else " | ".join(_short(t, 80) for t in printed)
            problem = (
                f"expected the output {' | '.join(_short(t, 80) for t in wanted)} / actual {got}"
            )
        refusals = _refusals(observations)
        if problem and refusals:
            problem += f" (the server refused an upgrade: {'; '.join(refusals)})"
        if problem and scenario.task == "steer" and not _steers(events):
            problem += " (the client sent no response.steer: the task steers)"
        if problem and not scenario.task_requirements and not locked_out:
            unmet = problem
        for rid in scenario.task_requirements:
            if problem and locked_out:
                # RWS-TRANS-19 kept the client out: the task says nothing about these.
                continue
            if problem:
                verdicts.broken(rid, f"task not completed: {problem}")
            else:
                verdicts.set(rid, Verdict.PASSED)
    # A client that never connected has no reconnections to judge (its task says why).
    reconnects = len(opens) - 1
    if not locked_out and opens and reconnects < scenario.min_reconnects:
        for rid in scenario.requirements:
            if rid in ("RWS-CLIENT-5", "RWS-ERR-7"):
                verdicts.broken(
                    rid,
                    f"expected at least {scenario.min_reconnects} new connection(s) after the "
                    f"server's close / actual {reconnects}",
                )
    if scenario.ping:
        pings, pongs = int(observations.get("pings", 0)), int(observations.get("pongs", 0))
        if pings and pongs < pings:
            verdicts.broken(
                "RWS-CLIENT-9", f"expected a pong for each of {pings} pings / actual {pongs}"
            )
        elif pings:
            verdicts.set("RWS-CLIENT-9", Verdict.PASSED)
    if scenario.previous_response_id is not None:
        _resume(scenario, records, events, verdicts)
    if "run-error" in scenario.faults.values() or "error-untyped" in scenario.faults.values():
        _after_error(scenario, events, verdicts)
    return unmet


def _steers(events: list[tuple[int, Mapping[str, Any], Any]]) -> int:
    """How many response.steer events the client sent."""
    return sum(
        1
        for _, record, body in events
        if record.get("dir") == "c2s"
        and isinstance(body, dict)
        and body.get("type") == "response.steer"
    )


def _creates(events: list[tuple[int, Mapping[str, Any], Any]]) -> list[tuple[int, Any]]:
    return [
        (i, body)
        for i, record, body in events
        if record.get("dir") == "c2s"
        and isinstance(body, dict)
        and body.get("type") == "response.create"
    ]


def _resume(
    scenario: ClientScenario,
    records: Sequence[Mapping[str, Any]],
    events: list[tuple[int, Mapping[str, Any], Any]],
    verdicts: _Verdicts,
) -> None:
    # RWS-CLIENT-2: after previous_response_not_found for the resumed id, the retry's
    # effective context (a warm-up, generate: false, is no retry: the request continuing it
    # is) holds the history it was given, then the new input, without that id. The client's
    # own items (a system prompt, often in the warm-up) may come before the history.
    not_found = [
        i
        for i, record, body in events
        if record.get("dir") == "s2c"
        and isinstance(body, dict)
        and body.get("type") == "error"
        and isinstance(body.get("error"), dict)
        and body["error"].get("code") == "previous_response_not_found"
    ]
    if not not_found:
        return
    bodies = dict(_creates(events))
    later = [c for c in create_contexts(records) if c.index > not_found[0] and not c.warm_up]
    if not later:
        verdicts.broken(
            "RWS-CLIENT-2", "expected a retry after previous_response_not_found / actual none"
        )
        return
    retry = later[0]
    if retry.previous == scenario.previous_response_id:
        return  # the checker's per-message rule reports the same id sent again
    history = [essence(item) for item in scenario.history]
    sent = list(retry.context if retry.context is not None else retry.input)
    starts = range(len(sent) - len(history) + 1)
    if not any(sent[i : i + len(history)] == history for i in starts):
        items = bodies.get(retry.index, {}).get("input")
        verdicts.broken(
            "RWS-CLIENT-2",
            f"expected the retry's context to hold the {len(history)} history items / actual "
            f"{len(sent)} items: {_short(json.dumps(items), 120)}",
        )
    else:
        verdicts.set("RWS-CLIENT-2", Verdict.PASSED)


def _after_error(
    scenario: ClientScenario,
    events: list[tuple[int, Mapping[str, Any], Any]],
    verdicts: _Verdicts,
) -> None:
    # RWS-CLIENT-4 / RWS-ERR-8: the error is the outcome; the client goes on (retries).
    errors = [
        (i, body)
        for i, record, body in events
        if record.get("dir") == "s2c" and isinstance(body, dict) and body.get("type") == "error"
    ]
    if not errors:
        return
    first, body = errors[0]
    later = [i for i, _ in _creates(events) if i > first]
    rid = "RWS-CLIENT-4" if "sequence_number" in body else "RWS-ERR-8"
    if not later:
        verdicts.broken(
            rid,
            "expected the client to take the error event as the outcome and send its next "
            "request / actual no response.create after it",
        )
    else:
        verdicts.set(rid, Verdict.PASSED)

"""The fuzzer's oracle: what a server must answer to one input, and the checker's verdict.

:func:`answer` sends a :class:`~conformance.fuzz.mutations.Mutation` on a connection and
judges the server's answer against its :class:`~conformance.fuzz.mutations.Expected`;
:func:`still_usable` proves the connection serves a normal request afterwards (RWS-ERR-3);
:class:`TapeChecker` feeds a growing transcript to the sans-I/O checker and returns the new
FAILED findings. Every problem is raised as :class:`FuzzFailure` carrying the transcript, so
that Hypothesis shrinks it and the runner can write the minimal one out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from conformance.checker import Checker, CheckerConfig, Finding
from conformance.fuzz.client import Closed, Tape, Target, WireClient
from conformance.fuzz.mutations import Expected, Mutation, error_registry
from conformance.requirements import Requirement, load_requirements
from conformance.results import Verdict
from conformance.schemas import default_schema_set

__all__ = [
    "REQUEST_CODE_CONDITIONS",
    "TERMINAL_TYPES",
    "FuzzFailure",
    "TapeChecker",
    "allowed_request_codes",
    "answer",
    "describe",
    "follow_up",
    "still_usable",
    "uncovered_request_codes",
]

TERMINAL_TYPES = frozenset({"response.completed", "response.failed", "response.incomplete"})


class FuzzFailure(AssertionError):
    """The server broke the spec on a fuzzed input; carries the transcript of the example."""

    def __init__(self, message: str, tape: Tape) -> None:
        super().__init__(message)
        self.message = message
        self.tape = tape


# When each request-scoped error code of the registry is a legitimate answer to a schema-valid
# response.create on a fresh, idle lane. Keyed by the registry's codes; a test checks that
# every request-scoped code of the registry has an entry, so a new code forces a decision.
REQUEST_CODE_CONDITIONS: Mapping[str, Callable[[Mapping[str, Any], Target], bool]] = {
    # RWS-CACHE-4: the fuzzer's ids are never cached nor stored.
    "previous_response_not_found": lambda e, t: e.get("previous_response_id") is not None,
    # RWS-LANE-3 is a mutation of its own; a valid event never gets it.
    "invalid_stream_id": lambda e, t: False,
    # RWS-LANE-5: one named lane per example is far below any limit.
    "websocket_stream_limit_reached": lambda e, t: False,
    # RWS-LANE-2: the lane is idle when the request arrives.
    "response_already_in_flight": lambda e, t: False,
    # RWS-LIMIT-1: examples are far shorter than any connection age.
    "websocket_connection_limit_reached": lambda e, t: False,
    # RWS-CREATE-20: a server may refuse them (or serve them, RWS-CREATE-18/19).
    "unsupported_parameter": lambda e, t: e.get("stream") is False or e.get("background") is True,
    # RWS-CREATE-15: only for fields the schema does not name (the unknown_field mutation).
    "unknown_parameter": lambda e, t: False,
    # RWS-CREATE-5: a server may require the model.
    "missing_required_parameter": lambda e, t: e.get("model") is None,
    # RWS-CREATE-5: a schema-valid event has no wrong types or values.
    "invalid_type": lambda e, t: False,
    "invalid_value": lambda e, t: False,
    "model_not_found": lambda e, t: e.get("model") not in (None, t.model),
    # RWS-LANE-11 bounds the requests *waiting* on a connection, and nothing waits on the idle
    # lane of an example: only a server declared rate limited for the key may answer it.
    "rate_limit_exceeded": lambda e, t: t.rate_limited,
    # RWS-LIMIT-6: a server_error on a valid request is exactly what the fuzzer looks for.
    "server_error": lambda e, t: False,
}


def allowed_request_codes(event: Mapping[str, Any], target: Target) -> frozenset[str]:
    """The request-scoped error codes that may answer the valid ``event``."""
    return frozenset(
        code
        for code, row in error_registry()["codes"].items()
        if row.get("scope") == "request"
        and code in REQUEST_CODE_CONDITIONS
        and REQUEST_CODE_CONDITIONS[code](event, target)
    )


def _code(event: Mapping[str, Any]) -> Any:
    error = event.get("error")
    return error.get("code") if isinstance(error, Mapping) else None


def _fail(tape: Tape, message: str) -> FuzzFailure:
    return FuzzFailure(message, tape)


def _receive(
    client: WireClient, done: Callable[[dict[str, Any]], bool], what: str
) -> list[dict[str, Any]]:
    try:
        return client.receive_until(done)
    except TimeoutError:
        raise _fail(
            client.tape, f"expected {what} / actual no answer within {client.target.timeout} s"
        ) from None
    except Closed as exc:
        raise _fail(
            client.tape,
            f"expected {what} / actual the server closed the connection (code {exc.code})",
        ) from None


def _outcome(
    client: WireClient, allowed: frozenset[str], run_allowed: bool, what: str
) -> dict[str, Any]:
    """Receive one request outcome; return its last event (error or terminal)."""
    events = _receive(client, lambda e: e.get("type") in ("error", "response.created"), f"{what}")
    first = events[-1]
    if first.get("type") == "error":
        if _code(first) not in allowed:
            raise _fail(
                client.tape,
                f"expected {what} / actual error {_code(first)!r}"
                + ("" if allowed else " (no error is allowed here)"),
            )
        return first
    if not run_allowed:
        raise _fail(client.tape, f"expected {what} / actual a run (response.created)")
    events = _receive(client, lambda e: e.get("type") in TERMINAL_TYPES, "the run's terminal event")
    return events[-1]


def answer(client: WireClient, mutation: Mutation) -> None:
    """Send ``mutation`` and judge the answer; raises :class:`FuzzFailure`."""
    expected: Expected = mutation.expected
    try:
        for frame in mutation.frames:
            client.send(frame, note=f"fuzz: {mutation.kind}")
    except Closed:
        if expected.kind != "close":
            raise _fail(
                client.tape,
                f"expected {expected.describe()} / actual the connection closed while sending",
            ) from None
    what = expected.describe()
    target = client.target
    if expected.kind == "errors":
        for n in range(expected.count):
            events = _receive(client, lambda e: True, what)
            event = events[-1]
            # RWS-CREATE-9/10/11, RWS-LANE-3: one error event per bad frame, with the code.
            if event.get("type") != "error" or _code(event) not in expected.codes:
                raise _fail(
                    client.tape,
                    f"expected {what} / actual {event.get('type')!r} "
                    f"with code {_code(event)!r} as answer {n + 1}",
                )
    elif expected.kind in ("outcome", "outcome_error"):
        sent: Mapping[str, Any] = mutation.event if isinstance(mutation.event, Mapping) else {}
        allowed = expected.codes
        if expected.kind == "outcome":
            allowed = allowed | allowed_request_codes(sent, target)
        # RWS-CREATE-12: exactly one outcome, a run or a request-scoped error.
        _outcome(client, allowed, expected.kind == "outcome", what)
    elif expected.kind == "steer":
        codes = expected.codes
        if "steering" not in target.profiles:
            # RWS-STEER-1: without the steering profile every response.steer fails this way.
            codes = codes & {"steering_not_supported"}
        events = _receive(
            client, lambda e: str(e.get("type", "")).startswith("response.steer."), what
        )
        reply = events[-1]
        accepted = reply.get("type") == "response.steer.accepted" and "steering" in target.profiles
        if not accepted and (
            reply.get("type") != "response.steer.failed" or _code(reply) not in codes
        ):
            raise _fail(
                client.tape,
                f"expected {what} / actual {reply.get('type')} with code {_code(reply)!r}",
            )
    elif expected.kind == "close":
        try:
            client.receive_until(lambda e: False)
        except TimeoutError:
            raise _fail(
                client.tape, f"expected {what} / actual the connection stayed open"
            ) from None
        except Closed as exc:
            if exc.code not in expected.close:
                raise _fail(
                    client.tape, f"expected {what} / actual close code {exc.code}"
                ) from None
    else:  # pragma: no cover - a mutation with an unknown kind is a bug of this module
        raise ValueError(f"unknown expectation {expected.kind!r}")


def follow_up(model: str) -> dict[str, Any]:
    """The normal request that proves a connection still works."""
    return {
        "type": "response.create",
        "model": model,
        "input": "rws:text length=3",
        "store": False,
    }


def still_usable(client: WireClient) -> WireClient:
    """RWS-ERR-3: after an error the connection serves a normal request.

    A connection the server rightly closed (an ``expected`` close) is replaced by a new one;
    return the connection the follow-up ran on.
    """
    if client.closed:
        client = WireClient(client.target, client.tape)
    try:
        client.send_event(follow_up(client.target.model), note="fuzz: follow-up")
    except Closed:
        raise _fail(
            client.tape, "expected the connection to stay usable / actual it was closed"
        ) from None
    allowed = allowed_request_codes(follow_up(client.target.model), client.target)
    last = _outcome(client, allowed, True, "a run for the follow-up request (RWS-ERR-3)")
    # "Usable" means a run completes: an error that answers the follow-up proves nothing,
    # except the rate limit of a server declared rate limited, which says nothing either way.
    error = last.get("error") if last.get("type") == "error" else None
    code = error.get("code") if isinstance(error, Mapping) else None
    if code == "rate_limit_exceeded" and client.target.rate_limited:
        return client
    if last.get("type") != "response.completed":
        got = f"error {code!r}" if last.get("type") == "error" else str(last.get("type"))
        raise _fail(
            client.tape,
            f"expected response.completed for the follow-up request that proves the "
            f"connection still usable (RWS-ERR-3) / actual {got}",
        )
    return client


def describe(finding: Finding) -> str:
    """A FAILED checker finding as a failure message."""
    return (
        f"checker: {finding.requirement} FAILED: {finding.message} "
        f"(records {list(finding.records)})"
    )


@cache
def _requirements() -> Mapping[str, Requirement]:
    return load_requirements()


class TapeChecker:
    """Feeds a growing transcript to the checker; judges the server role only.

    The fuzzer breaks client requirements on purpose, so only server requirements count.
    """

    def __init__(
        self, profiles: frozenset[str], known: Sequence[str] = (), busy_lane: str = "queue"
    ) -> None:
        # findings whose description matches a known pattern are tolerated (and counted)
        self.known = [(p, re.compile(p)) for p in known]
        self.hits: dict[str, int] = dict.fromkeys(known, 0)
        self.seen: set[tuple[str | None, str, tuple[int, ...]]] = set()
        self.checker = Checker(
            CheckerConfig.make(profiles=profiles, roles=("server",), busy_lane=busy_lane),
            validator=default_schema_set(),
            requirements=_requirements(),
        )
        self.fed = 0

    def feed(self, tape: Tape) -> list[Finding]:
        """Feed the records added since the last call; return every FAILED finding so far."""
        for record in tape.records[self.fed :]:
            self.checker.feed(record)
        self.fed = len(tape.records)
        report = self.checker.finish()
        failed: list[Finding] = []
        for finding in report.findings:
            if finding.verdict is not Verdict.FAILED:
                continue
            pattern = self._known(finding)
            if pattern is None:
                failed.append(finding)
            elif (key := (finding.requirement, finding.message, finding.records)) not in self.seen:
                self.seen.add(key)
                self.hits[pattern] += 1
        return failed

    def _known(self, finding: Finding) -> str | None:
        text = describe(finding)
        for pattern, regex in self.known:
            if regex.search(text):
                return pattern
        return None

    def assert_clean(self, tape: Tape) -> None:
        """Raise :class:`FuzzFailure` when the checker found a FAILED requirement."""
        failed = self.feed(tape)
        if failed:
            first = failed[0]
            # the other findings are named by requirement: one defect often breaks several,
            # and which the checker meets first can depend on timing
            others = sorted({f.requirement or "transcript" for f in failed[1:]})
            more = (
                f" and {len(failed) - 1} more finding(s) ({', '.join(others)})"
                if len(failed) > 1
                else ""
            )
            raise FuzzFailure(describe(first) + more, tape)


def uncovered_request_codes() -> frozenset[str]:
    """Request-scoped codes of the registry without a condition here (empty when in sync)."""
    return frozenset(
        code
        for code, row in error_registry()["codes"].items()
        if row.get("scope") == "request" and code not in REQUEST_CODE_CONDITIONS
    )

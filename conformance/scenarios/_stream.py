"""Helpers of the stream scenarios (stream.py, stream_items.py): the grammar they all declare,
the deltas of a run, and what to say when a model other than conformance-1 did not produce
what a requirement applies to.

A real model cannot be made to refuse, reason or fail on request, and may answer a text
prompt with something else. The stream checks judge whatever comes; a declared requirement
that nothing in the transcript applied to is then "not reached with this model" (SKIPPED,
with what the runs produced), never FAILED and never forced. Which requirements the
transcript exercised is the checker's own answer (its ``exercised`` counts): no rule of the
data is restated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.harness.checking import check_transcript
from conformance.harness.context import CheckFailure, PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.wire import Connection
from conformance.scenarios._common import describe, not_reached, output_items

__all__ = [
    "GRAMMAR",
    "deltas",
    "judged_request",
    "require_run",
    "set_aside_unexercised",
    "summary",
]

# The rules of one run's stream that every run exercises (the checker judges them).
GRAMMAR = (
    "RWS-EVENT-1",
    "RWS-EVENT-2",
    "RWS-EVENT-6",
    "RWS-ORDER-1",
    "RWS-ORDER-2",
    "RWS-ORDER-3",
    "RWS-ORDER-4",
    "RWS-ORDER-5",
    "RWS-ORDER-8",
    "RWS-ORDER-9",
    "RWS-DELTA-8",
    "RWS-SEQ-1",
    "RWS-SEQ-2",
    "RWS-SEQ-3",
    "RWS-TRANS-5",
)


def deltas(run: Outcome, event_type: str) -> list[str]:
    """The ``delta`` strings of a run's events of one type, in order."""
    return [str(e.get("delta", "")) for e in run.of_type(event_type)]


def _item_summary(item: Mapping[str, Any]) -> str:
    kind = str(item.get("type"))
    status = item.get("status")
    parts = item.get("content") if kind == "message" else item.get("summary")
    inner = ""
    if isinstance(parts, list):
        inner = " [" + ", ".join(str(p.get("type")) for p in parts if isinstance(p, Mapping))
        inner += "]"
    name = f" {item.get('name')}" if kind == "function_call" else ""
    return f"{kind}{name} ({status}){inner}"


def summary(run: Outcome) -> str:
    """What a run produced, for a stranger: its ending and its output items."""
    if run.kind != "run":
        return describe(run)
    items = [_item_summary(item) for item in output_items(run)]
    listed = "; ".join(items) if items else "no output items"
    return f"{describe(run)} with {listed}"


def require_run(ctx: ScenarioContext, run: Outcome, what: str) -> None:
    """A run the check judges must have ended ``completed`` or ``incomplete``.

    A request error or a failed run leaves nothing to judge: the prerequisite failed (a
    server that fails every run is not let through as "not reached").
    """
    if run.kind != "run" or run.status not in ("completed", "incomplete"):
        raise PrerequisiteFailed(
            f"{what}: expected a run ending completed or incomplete, got {describe(run)}"
        )


def set_aside_unexercised(
    ctx: ScenarioContext, requirements: Iterable[str], produced: str, *, reached: bool = True
) -> list[str]:
    """Record as not reached each of ``requirements`` the transcript gave nothing to apply to.

    Only for a model other than conformance-1 (whose runs are asked for exactly, so a rule
    they do not exercise is a failure of the check). ``produced`` says what the runs were;
    ``reached=False`` when the run broke off (the failure that stopped the check says why,
    and the rules it never reached are not judged rather than failed twice). Returns the
    requirements set aside.
    """
    if ctx.config.scripted:
        return []
    _, exercised = check_transcript(tuple(ctx.recorder.records), ctx.config)
    missing = [r for r in requirements if not exercised.get(r)]
    for requirement in missing:
        if reached:
            not_reached(ctx, requirement, f"nothing in the run(s) it applies to ({produced})")
        else:
            ctx.not_applicable(requirement, f"not judged: {produced}")
    return missing


async def judged_request(
    ctx: ScenarioContext,
    conn: Connection,
    event: Mapping[str, Any],
    requirements: Iterable[str],
    *,
    what: str,
) -> Outcome:
    """Send a request whose run the check judges; with a model other than conformance-1, a
    run that breaks off (no outcome, no terminal event) fails by the requirement it breaks,
    and the rules it never reached are set aside as not judged."""
    try:
        return await ctx.request(conn, event, what=what)
    except CheckFailure as failure:
        set_aside_unexercised(
            ctx,
            [r for r in requirements if r != failure.requirement],
            f"{what} broke off before its rules could apply ({failure.requirement})",
            reached=False,
        )
        raise

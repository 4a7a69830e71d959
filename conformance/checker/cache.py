"""The connection-scoped cache as the checker models it (``schemas/rules/cache.json``).

:class:`CacheModel` holds one connection's entries (lane -> response id); :class:`Knowledge`
holds what the transcript revealed about every response (connection, principal, store flag,
how it ended, whether it was evicted). :func:`predict` applies the prediction table to a
``response.create`` with ``previous_response_id``; :meth:`CacheModel.apply` applies the
transition table to an outcome. The rows are matched generically: a ``when`` is a set of facts
the request must have, computed by :func:`facts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.checker.rules import CacheRules

__all__ = ["CacheModel", "Knowledge", "Prediction", "ResponseFacts", "facts", "predict"]

Lane = str | None  # None: the default lane


@dataclass
class ResponseFacts:
    """What the transcript showed about one response."""

    id: str
    conn: str
    principal: str | None
    store: bool
    lane: Lane
    status: str | None = None  # completed | incomplete | failed | aborted (None: running)
    evicted: bool | str = False  # True, False or "maybe" (RWS-CACHE-13)
    # conformance-model bookkeeping: the context of the run and its output items.
    context: list[Any] | None = None
    output: list[Any] = field(default_factory=list)


@dataclass
class Knowledge:
    """Every response of the transcript, by id."""

    responses: dict[str, ResponseFacts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the server must answer to a continuation."""

    expect: str  # served | error | open
    code: str | None
    requirements: tuple[str, ...]
    facts: Mapping[str, Any]

    def describe(self) -> str:
        """For messages: the facts that led to the prediction."""
        shown = ", ".join(f"{k}={v}" for k, v in self.facts.items() if k != "known" or not v)
        return f"previous response {shown}"


class CacheModel:
    """The entries of one connection: at most one per lane."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[Lane, tuple[str, tuple[str, ...]]] = {}

    def requirements_of(self, response_id: str) -> tuple[str, ...]:
        """The requirements of the transitions that made and kept an entry."""
        for rid, requirements in self.entries.values():
            if rid == response_id:
                return requirements
        return ()

    def holder(self, response_id: str) -> Lane | object:
        """The lane whose entry is ``response_id`` (``_NONE`` when none)."""
        for lane, (rid, _) in self.entries.items():
            if rid == response_id:
                return lane
        return _NONE

    def apply(
        self,
        rules: CacheRules,
        knowledge: Knowledge,
        on: str,
        lane: Lane,
        request: Mapping[str, Any] | None,
        response_id: str | None = None,
        status: str | None = None,
        evicts: bool | str | None = None,
    ) -> tuple[str, ...]:
        """Apply the first matching transition; return its requirements.

        ``evicts`` is the error registry's word on a request error's code (a row with
        ``evicts`` applies only to errors it names).
        """
        previous = request.get("previous_response_id") if request is not None else None
        holder = self.holder(previous) if isinstance(previous, str) else _NONE
        continues = (
            "own_lane_entry"
            if holder is not _NONE and holder == lane
            else "other_lane_entry"
            if holder is not _NONE
            else None
        )
        for row in rules.transitions:
            if row.get("on") != on:
                continue
            if "status" in row and status not in row["status"]:
                continue
            if "continues" in row and row["continues"] != continues:
                continue
            if "evicts" in row and row["evicts"] != evicts:
                continue
            wanted = row.get("request", {})
            if request is not None and any(request.get(k, True) != v for k, v in wanted.items()):
                continue
            if wanted and request is None:
                continue
            effect = row.get("effect")
            requirements = tuple(row.get("requirements", ()))
            if effect == "set_entry" and response_id is not None:
                self.entries[lane] = (response_id, requirements)
            elif effect == "keep":
                # The entry that survived carries the rule that kept it: a later continuation
                # of it then exercises (or breaks) that rule too.
                kept = holder if continues == "other_lane_entry" else lane
                entry = self.entries.get(kept) if isinstance(kept, str) or kept is None else None
                if entry is not None and (on == "run_ended" or continues is not None):
                    self.entries[kept] = (entry[0], (*entry[1], *requirements))  # type: ignore[index]
            elif effect in ("evict", "forget") and isinstance(previous, str):
                # "forget": the server may have kept the entry or evicted it (RWS-CACHE-13);
                # the checker no longer knows, and predicts nothing for it.
                self.entries.pop(lane, None)
                facts_ = knowledge.responses.get(previous)
                if facts_ is not None:
                    facts_.evicted = True if effect == "evict" else "maybe"
            elif effect == "clear":
                self.entries.clear()
            return requirements
        return ()


class _NoneType:
    __slots__ = ()


_NONE = _NoneType()


def facts(
    cache: CacheModel,
    knowledge: Knowledge,
    previous: str,
    lane: Lane,
    conn: str,
    principal: str | None,
) -> dict[str, Any]:
    """The facts the prediction table is matched against."""
    holder = cache.holder(previous)
    out: dict[str, Any] = {
        "cached": "no" if holder is _NONE else "own_lane" if holder == lane else "other_lane"
    }
    known = knowledge.responses.get(previous)
    out["known"] = known is not None and known.status is not None
    if known is not None:
        if known.principal is None or principal is None:
            out["principal"] = "unknown"
        else:
            out["principal"] = "same" if known.principal == principal else "other"
        out["store"] = known.store
        out["ended"] = known.status
        out["evicted"] = known.evicted
        out["connection"] = "same" if known.conn == conn else "other"
    return out


def predict(
    rules: CacheRules,
    found: Mapping[str, Any],
    entry: tuple[str, ...] = (),
    parameters: Mapping[str, str] | None = None,
) -> Prediction:
    """Apply the prediction table to the facts of one continuation (first match wins).

    ``entry`` are the requirements of the cached entry (when the previous response is one);
    a prediction that relies on the entry cites them too. A row with ``parameters`` applies
    only when the server declared those values (D24: ``storage``).
    """
    declared = parameters or {}
    for row in rules.predictions:
        when = row.get("when", {})
        wanted = row.get("parameters", {})
        if any(declared.get(k) != v for k, v in wanted.items()):
            continue
        if all(_matches(found.get(k, _NONE), v) for k, v in when.items()):
            requirements = tuple(row.get("requirements", ()))
            if "cached" in when:
                requirements = tuple(dict.fromkeys((*requirements, *entry)))
            return Prediction(
                expect=str(row.get("expect", "open")),
                code=row.get("code"),
                requirements=requirements,
                facts=dict(found),
            )
    return Prediction("open", None, (), dict(found))


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return any(_matches(actual, w) for w in wanted)
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    return bool(actual == wanted)

"""The stateful fuzzer's model of the connection-scoped cache, from ``schemas/rules/cache.json``.

The fuzzer knows every response it saw end (its connection, API key, ``store`` flag, lane and
how it ended) and every open connection's entries. It predicts the outcome of a continuation
with the prediction table and updates the entries with the transition table, through the
checker's executor of those tables (:mod:`conformance.checker.cache`): no cache rule is
restated here. A prediction needs only the *kind* of outcome - a run, or the error
``previous_response_not_found`` - so it holds for any model; the exact context a run was
served with is checked separately, and only with ``conformance-1`` (its ``rws:context``
digests, :mod:`conformance.fuzz.stateful`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.checker.cache import CacheModel, Knowledge, Prediction, ResponseFacts, facts
from conformance.checker.cache import predict as predict_from_table
from conformance.checker.rules import Rules, load_rules
from conformance.fuzz.client import WireClient

__all__ = ["Conn", "ConversationModel", "judge"]

Lane = str | None


@dataclass
class Conn:
    """One open connection of the session, and its entries as the spec says they must be."""

    client: WireClient
    key: int  # which API key the connection was opened with (0: api_key, 1: api_key2)
    cache: CacheModel = field(default_factory=CacheModel)

    @property
    def name(self) -> str:
        """The connection's name in the transcript (``c1``, ``c2``, ...)."""
        return self.client.conn

    @property
    def principal(self) -> str:
        """Who the connection acts for (RWS-LIMIT-5 compares principals)."""
        return f"key{self.key}"


@dataclass
class ConversationModel:
    """Every response of the session and every open connection's cache."""

    # declared server parameters the prediction table depends on (D24: storage)
    parameters: Mapping[str, str] = field(default_factory=lambda: {"storage": "durable"})
    rules: Rules = field(default_factory=load_rules)
    knowledge: Knowledge = field(default_factory=Knowledge)
    conns: list[Conn] = field(default_factory=list)

    def response(self, response_id: str) -> ResponseFacts:
        """What the session knows of a response it saw."""
        return self.knowledge.responses[response_id]

    def predict(self, conn: Conn, previous_id: str, lane: Lane) -> Prediction:
        """The prediction table's answer for a continuation of ``previous_id`` on ``lane``."""
        found = facts(conn.cache, self.knowledge, previous_id, lane, conn.name, conn.principal)
        return predict_from_table(
            self.rules.cache, found, conn.cache.requirements_of(previous_id), self.parameters
        )

    def run_ended(
        self,
        conn: Conn,
        lane: Lane,
        request: Mapping[str, Any],
        response: ResponseFacts,
    ) -> None:
        """A run of ``request`` ended with ``response.status``: record it, update the entries."""
        self.knowledge.responses[response.id] = response
        conn.cache.apply(
            self.rules.cache,
            self.knowledge,
            "run_ended",
            lane,
            request,
            response_id=response.id,
            status=response.status,
        )

    def request_error(
        self, conn: Conn, lane: Lane, request: Mapping[str, Any], code: str | None
    ) -> None:
        """``request`` was answered with a request-scoped error: update the entries
        (RWS-CACHE-5/13, as the error registry marks ``code``)."""
        conn.cache.apply(
            self.rules.cache,
            self.knowledge,
            "request_error",
            lane,
            request,
            evicts=self.rules.evicts(code or ""),
        )

    def closed(self, conn: Conn) -> None:
        """The connection closed: its entries are gone."""
        conn.cache.apply(self.rules.cache, self.knowledge, "connection_closed", None, None)
        self.conns.remove(conn)


def judge(
    prediction: Prediction,
    previous_id: str,
    code: str | None,
    sent: str,
    other_codes: frozenset[str] = frozenset(),
) -> str | None:
    """The failure message when an outcome contradicts ``prediction``, else None.

    ``code`` is the error code that answered the continuation (None: a run started);
    ``other_codes`` are codes that may answer the request for reasons of its own (an invalid
    parameter the request carries on purpose, a declared rate limit). ``sent`` says what was
    sent, for the message.
    """
    not_found = "previous_response_not_found"
    cited = "/".join(prediction.requirements) or "RWS-CACHE"
    why = prediction.describe()
    if code is not None and code in other_codes:
        return None
    if prediction.expect == "served":
        if code is None:
            return None
        return (
            f"{cited}: expected {sent} continuing {previous_id} ({why}) to be served"
            f" / actual error {code!r}"
        )
    if prediction.expect == "error":
        wanted = prediction.code or not_found
        if code == wanted:
            return None
        got = "a run (response.created)" if code is None else f"error {code!r}"
        return (
            f"{cited}: expected error {wanted!r} for {sent} continuing {previous_id} ({why})"
            f" / actual {got}"
        )
    # open: the specification leaves it to the server; either kind of outcome is right.
    if code is None or code == not_found:
        return None
    return (
        f"expected a run or error {not_found!r} for {sent} continuing {previous_id} ({why}) / "
        f"actual error {code!r}"
    )

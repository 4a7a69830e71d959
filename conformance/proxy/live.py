"""The live judgement of a proxy session: the suite's checker, fed as traffic crosses (sans-I/O).

A :class:`LiveJudge` judges every record of the session, in the order seen, with the judgement
``responses-ws validate`` gives a whole transcript (:func:`conformance.checker.judge.
judge_transcript`): the transcript checker (:class:`~conformance.checker.Checker`: every
server event, every client message, runs, lanes, the cache) and, when the client is judged,
the whole-transcript client rules (:class:`~conformance.checker.client.ClientTraffic`:
continuations, retries, reconnections, backoff). Both see the whole session as one transcript,
so that what spans connections (a response continued on another connection, reconnections)
is judged too. A third recorder holds what only the upgrade request shows: the credential's
header and scheme (RWS-TRANS-19, from ``schemas/rules/client.json``).

Each finding is handed to ``on_finding`` as soon as the record that reveals it is judged, with
that record's index and a few words about it (:class:`LiveFinding`); :meth:`LiveJudge.finish`
returns the merged report of the whole session, as ``validate`` would have it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from conformance.checker import Checker, CheckerConfig, Finding, Report
from conformance.checker.client import ClientTraffic, load_client_rules, merge_reports
from conformance.checker.findings import Recorder
from conformance.clientsuite.upgrade import inspect_upgrade
from conformance.requirements import Requirement, load_requirements
from conformance.transcript import parse_record

__all__ = ["LiveFinding", "LiveJudge", "describe"]


@dataclass(frozen=True, slots=True)
class LiveFinding:
    """A finding as it happens: what was found, and the record that revealed it."""

    finding: Finding
    record: int  # the index (in the session) of the record being judged when it was found
    event: str  # that record in a few words, e.g. "s2c response.output_text.delta"
    ts: float | None


def describe(record: Mapping[str, Any]) -> str:
    """A record in a few words: its direction and event type, or its kind (and close code)."""
    kind = record.get("kind")
    where = f"{record['dir']} " if record.get("dir") else ""
    if kind == "text":
        if record.get("utf8") is False:
            return f"{where}text (not UTF-8)"
        try:
            body = orjson.loads(record.get("text") or "")
        except ValueError:
            return f"{where}text (not JSON)"
        etype = body.get("type") if isinstance(body, dict) else None
        return f"{where}{etype}" if isinstance(etype, str) else f"{where}text (no type)"
    if kind == "close":
        code = record.get("code")
        return f"{where}close {code if code is not None else '(no code)'}"
    if kind in ("open", "rejected"):
        status = record.get("status")
        return f"{kind} (HTTP {status})" if status is not None else str(kind)
    return f"{where}{kind}"


class LiveJudge:
    """Judges one proxy session record by record; tells each finding as it is made."""

    def __init__(
        self,
        config: CheckerConfig,
        *,
        requirements: Mapping[str, Requirement] | None = None,
        on_finding: Callable[[LiveFinding], None] | None = None,
    ) -> None:
        registry = requirements if requirements is not None else load_requirements()
        self.config = config
        self.checker = Checker(config, requirements=registry)
        self.client: ClientTraffic | None = (
            ClientTraffic(config, requirements=registry) if "client" in config.roles else None
        )
        # What only the upgrade request shows (RWS-TRANS-19).
        self.upgrades = Recorder(registry, config.profiles, config.roles)
        self._rules = load_client_rules()
        self._on_finding = on_finding
        # The recorders' lists of findings (each only grows), and how many of each were told.
        client: Sequence[Finding] = self.client.findings if self.client is not None else ()
        self._found = (self.checker.recorder.findings, client, self.upgrades.findings)
        self._told = [0, 0, 0]
        self._told_total = 0
        self.records = 0

    def record(self, record: Mapping[str, Any]) -> int:
        """Judge one record (a dict in the transcript format); return its index."""
        checker = self.checker
        index = checker.count
        self.records = index + 1
        kind = record.get("kind")
        # A server message that is not UTF-8 ("utf8": false) goes the record's way.
        server_text = kind == "text" and record.get("dir") == "s2c" and "utf8" not in record
        if server_text:
            # Most of the traffic: the checker's hot path, without reading the record again.
            ts = record.get("ts")
            checker.feed_text(record["conn"], "s2c", record["text"], ts)
        else:
            checker.feed(record)
        client = self.client
        if client is not None and (not server_text or client.concerns(record["text"])):
            client.feed(parse_record(record, index))
        found = self._found
        # Most records reveal nothing: one sum says so.
        if len(found[0]) + len(found[1]) + len(found[2]) != self._told_total:
            self._tell(index, record)
        return index

    def upgrade(
        self,
        conn: str,
        index: int,
        target: str,
        authorization: Iterable[str],
        headers: Iterable[tuple[str, str]],
        record: Mapping[str, Any],
    ) -> None:
        """RWS-TRANS-19: how the upgrade request of ``conn`` (record ``index``, its ``open`` or
        ``rejected`` record) carried the client's credential."""
        seen = inspect_upgrade(target, authorization, headers, "")
        requirements = self._rules.credential_requirements
        self.upgrades.exercise(requirements)
        if not seen.bearer:
            self.upgrades.report(
                requirements,
                f"expected the credential in `{self._rules.credential_header}: "
                f"{self._rules.credential_scheme} <credential>` on the upgrade request / "
                f"actual {seen.describe()}",
                conn,
                (index,),
            )
        self._tell(index, record)

    def end(self, conn: str) -> None:
        """``conn`` is over (its TCP connections are closed): what it still owed is judged."""
        self.checker.end(conn)
        self._tell(self.records - 1, {"kind": "end", "conn": conn})

    def finish(self) -> Report:
        """The report on the whole session."""
        reports = [self.checker.finish()]
        if self.client is not None:
            reports.append(self.client.finish())
        reports.append(self.upgrades.build(self.records))
        self._tell(self.records - 1, {"kind": "end of session"})
        return merge_reports(reports)

    def _tell(self, index: int, record: Mapping[str, Any]) -> None:
        told = self._told
        for which, findings in enumerate(self._found):
            if len(findings) == told[which]:
                continue
            fresh = findings[told[which] :]
            told[which] = len(findings)
            self._told_total += len(fresh)
            if self._on_finding is None:
                continue
            words = describe(record)
            ts = record.get("ts")
            for finding in fresh:
                self._on_finding(
                    LiveFinding(finding, index, words, ts if isinstance(ts, float) else None)
                )

"""A proxy session's judge (sans-I/O): events in; records, transcripts, findings, reports out.

The I/O side tells a :class:`Session` what it did, as :class:`~conformance.proxy.tap.Event` s
(:meth:`Session.apply`): an upgrade and how it was answered, copies of the bytes each side
sent, a side's end of stream, the end of a connection. The session reads the bytes of each
connection (:class:`~conformance.proxy.reader.Reader`), turns what crossed into transcript
records (docs/transcripts.md), writes each to its connection's transcript and judges it at
once (:class:`~conformance.proxy.live.LiveJudge`: the records of every connection, in the
order they were told, as one transcript). Findings go to the console as they are made, and
the first ones of each requirement are kept, with the records they name, for the reports
(:meth:`Session.finish`).
"""

from __future__ import annotations

import base64
import datetime
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidHandshake

from conformance.checker import CheckerConfig, Report
from conformance.proxy.addresses import Upstream
from conformance.proxy.compression import decoders, parameters
from conformance.proxy.console import Console
from conformance.proxy.headers import Principals, recorded_headers, recorded_target
from conformance.proxy.live import LiveFinding, LiveJudge
from conformance.proxy.reader import CLIENT, Reader, Seen
from conformance.proxy.report import Kept, session_run
from conformance.proxy.tap import Event
from conformance.proxy.transcripts import DEFAULT_LIMIT, Transcripts
from conformance.reports import write_reports
from conformance.requirements import Requirement, load_requirements
from conformance.results import RunResult, Verdict

__all__ = ["Connection", "Session", "SessionEnd", "Settings"]

# How many records of a finding are quoted in the report (the first ones it names).
_QUOTED = 3


@dataclass(frozen=True)
class Settings:
    """How a session proxies and judges."""

    upstream: Upstream
    config: CheckerConfig
    report_dir: Path
    compression: bool = True
    max_message_size: int | None = 64 * 1024 * 1024
    transcript_limit: int = DEFAULT_LIMIT
    # Findings of one requirement kept for the reports (all are counted).
    keep_per_requirement: int = 50
    open_timeout: float = 10.0
    close_timeout: float = 10.0
    max_connections: int = 256
    fail_on: str = "must"  # must | should


@dataclass(frozen=True)
class SessionEnd:
    """What :meth:`Session.finish` concluded and wrote."""

    report: Report
    run: RunResult
    files: tuple[Path, ...]
    status: int
    why: str


class Session:
    """Every connection of one proxy run, judged as one transcript."""

    def __init__(
        self,
        settings: Settings,
        console: Console,
        clock: Callable[[], float],
        *,
        requirements: Mapping[str, Requirement] | None = None,
    ) -> None:
        self.settings = settings
        self.console = console
        self._clock = clock
        self._origin = clock()
        self.started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self.registry = requirements if requirements is not None else load_requirements()
        self.judge = LiveJudge(settings.config, requirements=self.registry, on_finding=self._found)
        self.transcripts = Transcripts(
            settings.report_dir / "transcripts", settings.transcript_limit
        )
        self.principals = Principals()
        self.stats: Counter[str] = Counter()
        self.connections: dict[int, Connection] = {}
        self._kept: list[Kept] = []
        self._kept_per: Counter[str] = Counter()
        self._finished: SessionEnd | None = None

    def now(self) -> float:
        """Seconds since the session started (the I/O side stamps its events with these)."""
        return round(self._clock() - self._origin, 6)

    # --- events --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Judge what the I/O side did."""
        if event.kind == "open":
            opened = Connection(self, f"c{event.conn}")
            opened.upgrade(event.ts, event.info)
            if opened.opened:
                self.connections[event.conn] = opened
            else:
                opened.end()  # a refused upgrade: nothing more crosses
            return
        connection = self.connections.get(event.conn)
        if connection is None:
            return  # a connection whose upgrade never completed: nothing crossed
        if event.kind == "data":
            connection.seen(event.ts, connection.reader.data(event.dir, event.data))
        elif event.kind == "eof":
            connection.seen(event.ts, connection.reader.eof(event.dir))
        else:
            connection.end()
            del self.connections[event.conn]

    def add(self, conn: str, record: dict[str, Any], *, last: bool = False) -> int:
        """Write a record to its connection's transcript and judge it; return its index."""
        index = self.judge.records
        transcript = self.transcripts.get(conn)
        if transcript is not None:
            transcript.write(index, record, last=last)
        self.judge.record(record)
        return index

    def _found(self, live: LiveFinding) -> None:
        self.console.finding(live)
        finding = live.finding
        key = finding.requirement or "TRANSCRIPT"
        self._kept_per[key] += 1
        if self._kept_per[key] > self.settings.keep_per_requirement:
            return
        conns = (finding.conn,)
        quoted = []
        for index in dict.fromkeys((*finding.records[:_QUOTED], live.record)):
            where = self.transcripts.where(index, conns)
            record = self.transcripts.read(index, conns) if where is not None else None
            quoted.append((index, where[0] if where else None, where[1] if where else None, record))
        self._kept.append(Kept(finding, live.event, tuple(quoted)))

    # --- the end -------------------------------------------------------------------------------

    def finish(self, *, write: bool = True) -> SessionEnd:
        """End the session (once): judge what is still owed, close the transcripts, write the
        reports, and say how the session ends (its exit status under ``fail_on``)."""
        if self._finished is not None:
            return self._finished
        for connection in list(self.connections.values()):
            connection.end()
        self.connections.clear()
        report = self.judge.finish()
        self.transcripts.close()
        settings = self.settings
        run = session_run(
            report,
            self._kept,
            self.registry,
            roles=sorted(settings.config.roles),
            started_at=self.started_at,
            duration_s=round(self.now(), 3),
            target={
                "suite": "proxy",
                "url": str(settings.upstream),
                "upstream": str(settings.upstream),
                "profiles": sorted(settings.config.profiles),
                "roles": sorted(settings.config.roles),
                "parameters": dict(settings.config.parameters),
                "fail_on": settings.fail_on,
            },
            details={
                "connections": self.stats["connections"],
                "refused_upgrades": self.stats["refused"],
                "client_messages": self.stats["c2s"],
                "server_messages": self.stats["s2c"],
                "transcripts": str(self.transcripts.folder),
            },
        )
        files: list[Path] = []
        if write:
            files.extend(write_reports(run, settings.report_dir, registry=self.registry).values())
            files.append(self.transcripts.folder)
        status, why = _status(report, settings.fail_on)
        self._finished = SessionEnd(report, run, tuple(files), status, why)
        return self._finished

    def summary(self) -> None:
        """Print the end of the session (after :meth:`finish`)."""
        end = self.finish()
        self.console.summary(
            end.report,
            end.run,
            self.registry,
            stats=self.stats,
            files=[str(p) for p in end.files],
            status=end.status,
            why=end.why,
        )


def _status(report: Report, fail_on: str) -> tuple[int, str]:
    verdicts = report.verdicts()
    failed = sorted(r for r, v in verdicts.items() if v is Verdict.FAILED)
    warned = sorted(r for r, v in verdicts.items() if v is Verdict.WARNING)
    problems = sum(1 for f in report.findings if f.requirement is None)
    if failed:
        return 1, f"{len(failed)} MUST requirements violated ({', '.join(failed)})"
    if problems:
        return 1, f"{problems} problems of the recording (see proxy.transcript)"
    if warned and fail_on == "should":
        return 1, f"{len(warned)} SHOULD requirements not met ({', '.join(warned)})"
    if warned:
        return 0, f"no MUST violated; {len(warned)} SHOULD not met (--fail-on should fails those)"
    return 0, "no requirement violated"


class Connection:
    """One client connection of the session, as the session records it."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.name = name
        self.opened = False
        self.reader = Reader(max_size=session.settings.max_message_size)
        self._ended = False

    def upgrade(self, ts: float, info: Mapping[str, Any]) -> None:
        """The client's upgrade request and how it was answered (101: the connection is open;
        anything else: refused, by the upstream or, with a ``note`` saying why, by the proxy)."""
        session = self.session
        upstream = session.settings.upstream
        status = int(info.get("status", 0))
        items = [(str(n), str(v)) for n, v in info.get("headers", ())]
        authorization = [str(v) for v in info.get("authorization", ())]
        target = str(info.get("target", "/"))
        record: dict[str, Any] = {
            "ts": ts,
            "conn": self.name,
            "kind": "open" if status == 101 else "rejected",
            "url": upstream.url(recorded_target(upstream.target(target))),
            "status": status,
            "headers": recorded_headers(items),
        }
        principal = session.principals.of(authorization)
        if status == 101 and principal is not None:
            record["principal"] = principal
        note = info.get("note")
        if note:
            record["note"] = str(note)
            session.console.notice(f"{self.name}: {note}")
        session.transcripts.open(self.name)
        index = session.add(self.name, record)
        session.stats["connections"] += 1
        if status == 101:
            self.opened = True
            extensions = info.get("extensions")
            try:
                c2s, s2c = decoders(parameters([str(extensions)]) if extensions else None)
            except (InvalidHandshake, AssertionError, ValueError) as exc:
                # The handshake accepted it; if the proxy cannot read it, it says so.
                session.console.notice(f"{self.name}: cannot read the compression: {exc}")
                c2s, s2c = [], []
            self.reader = Reader(c2s, s2c, max_size=session.settings.max_message_size)
        else:
            session.stats["refused"] += 1
        session.judge.upgrade(self.name, index, target, authorization, items, record)

    def seen(self, ts: float, items: Sequence[Seen]) -> None:
        """What crossed the proxy on this connection, in order."""
        session = self.session
        name = self.name
        stats = session.stats
        for item in items:
            kind = item.kind
            record: dict[str, Any] = {"ts": ts, "conn": name, "kind": kind}
            if kind == "text":
                record["dir"] = item.dir
                record["text"] = item.text
                if item.data is not None:
                    # Not valid UTF-8: its bytes as they crossed (docs/transcripts.md).
                    record["utf8"] = False
                    record["b64"] = base64.b64encode(item.data).decode("ascii")
                stats[item.dir] += 1
            elif kind == "unread":
                # Not a record: the transcript cannot hold what the proxy could not read.
                session.console.notice(f"{name}: {item.note}")
                continue
            elif kind == "gone":
                # A dropped connection: a close without a direction (docs/transcripts.md).
                record["kind"] = "close"
                record["code"] = item.code
                who = "client" if item.dir == CLIENT else "upstream"
                record["note"] = f"the {who} ended its TCP connection without a close frame"
                session.console.notice(f"{name}: {record['note']}")
            elif kind == "close":
                record["dir"] = item.dir
                if item.code is not None:
                    record["code"] = item.code
                    record["reason"] = item.reason or ""
            else:
                record["dir"] = item.dir
                record["b64"] = base64.b64encode(item.data or b"").decode("ascii")
                if kind == "binary":
                    stats[item.dir] += 1
            if item.note is not None and "note" not in record:
                record["note"] = item.note
            session.add(name, record, last=kind in ("gone", "close"))

    def end(self) -> None:
        """The connection is over (both TCP connections are closed)."""
        if self._ended:
            return
        self._ended = True
        transcript = self.session.transcripts.get(self.name)
        if transcript is not None:
            transcript.close()
        if self.opened:
            self.session.judge.end(self.name)

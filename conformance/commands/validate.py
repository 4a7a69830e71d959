"""``responses-ws validate TRANSCRIPT.jsonl``: check a recorded transcript offline.

Judges a JSON Lines transcript (format: ``docs/transcripts.md``), or a recorded stream of
server-sent events as the HTTP exchange it is (:mod:`conformance.sse_transcript`), with
:func:`conformance.checker.judge.judge_transcript`, the judgement the client suite uses too:
the checker (:mod:`conformance.checker`) for the roles asked for and, when the client is
judged, the whole-transcript client rules (``schemas/rules/client.json``). It prints the
findings, each with what the client sent and what came back, or the whole report as JSON with
``--json``. The exit status is 1 when any finding is FAILED, 2 when the file cannot be read
or an option is wrong, 0 otherwise (warnings and informational findings do not fail).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from conformance.checker import PROFILES, ROLES, CheckerConfig, Report
from conformance.checker.judge import explain, judge_transcript
from conformance.harness.config import DEFAULT_PARAMETERS
from conformance.sse_transcript import looks_like_sse, sse_records
from conformance.transcript import Record, read_jsonl

__all__ = ["add_declaration_arguments", "checker_config", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a recorded transcript (JSON Lines) against the specification",
        description="Check a transcript offline; exit 1 when any requirement FAILED. A recorded "
        "client session gets the client suite's judgement of its transcript (--role client); "
        "each finding says what the client sent and what came back. docs/transcripts.md lists "
        "what is judged.",
    )
    parser.add_argument(
        "transcript",
        help="the transcript, one JSON record per line, or a recorded stream of server-sent "
        "events (the body of POST /v1/responses with stream true)",
    )
    parser.add_argument(
        "--request",
        metavar="BODY.json",
        help="for a recorded stream: the JSON body that was sent (else it is rebuilt from "
        "response.created)",
    )
    parser.add_argument(
        "--role",
        choices=(*ROLES, "both"),
        default="both",
        help="judge the server (its messages, runs and errors), the client (every message it "
        "sent, and over the whole transcript its continuations, retries, reconnections and "
        "backoff, from schemas/rules/client.json), or both (default)",
    )
    add_declaration_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def add_declaration_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say what the server declares (profiles and parameters), shared by
    every command that judges traffic (``validate``, ``proxy``)."""
    parser.add_argument(
        "--profile",
        action="append",
        default=None,
        help=f"profiles the server declares, comma-separated or repeated ({', '.join(PROFILES)}); "
        "core is always declared",
    )
    parser.add_argument(
        "--busy-lane",
        choices=("queue", "reject"),
        default=DEFAULT_PARAMETERS["busy-lane"],
        help="the server's declared busy-lane policy (default: queue)",
    )
    parser.add_argument(
        "--max-named-lanes",
        type=int,
        default=int(DEFAULT_PARAMETERS["max-named-lanes"]),
        help="the server's declared max-named-lanes (default: 32)",
    )
    parser.add_argument(
        "--server-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a declared server parameter (repeatable), e.g. max-connection-age=600",
    )


def checker_config(args: argparse.Namespace) -> CheckerConfig:
    """The checker's configuration from the options of :func:`add_declaration_arguments` and
    ``--role``; a ValueError says what is wrong with them."""
    profiles = {"core"}
    for value in args.profile or ():
        profiles.update(p.strip() for p in value.split(",") if p.strip())
    unknown = profiles - set(PROFILES)
    if unknown:
        raise ValueError(f"unknown profile {sorted(unknown)[0]!r}")
    roles = ROLES if args.role == "both" else (args.role,)
    parameters = dict(DEFAULT_PARAMETERS)
    parameters["busy-lane"] = args.busy_lane
    parameters["max-named-lanes"] = str(args.max_named_lanes)
    for item in args.server_param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--server-param wants NAME=VALUE: {item!r}")
        parameters[name.strip()] = value.strip()
    return CheckerConfig(frozenset(profiles), parameters, frozenset(roles))


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check the transcript named in ``args``; return the exit status."""
    out = out or sys.stdout
    try:
        config = checker_config(args)
    except ValueError as exc:
        print(f"responses-ws validate: {exc}", file=sys.stderr)
        return 2
    try:
        records = _read(args)
    except OSError as exc:
        print(f"responses-ws validate: cannot read {args.transcript}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"responses-ws validate: {exc}", file=sys.stderr)
        return 2
    if any("http" in record.extra for record in records):
        # A recorded HTTP exchange: the server declares the http profile (spec section 13).
        config = dataclasses.replace(config, profiles=config.profiles | {"http"})
    report = judge_transcript(records, config)
    if args.json:
        data = report.to_dict()
        for entry, finding in zip(data["findings"], report.findings, strict=True):
            entry["explanation"] = explain(finding, records)
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        _print(report, records, out)
    return 1 if report.failed else 0


def _read(args: argparse.Namespace) -> list[Record]:
    """The records to judge: a transcript, or a recorded stream of server-sent events as the
    HTTP exchange it is (spec section 13, which makes the profile http declared)."""
    path = Path(args.transcript)
    with path.open("rb") as handle:
        head = handle.read(4096)
    request = getattr(args, "request", None)
    if not looks_like_sse(head):
        if request is not None:
            raise ValueError("--request is for a recorded stream of server-sent events")
        return list(read_jsonl(path))
    body = None
    if request is not None:
        body = json.loads(Path(request).read_text(encoding="utf-8"))
        if not isinstance(body, dict):
            raise ValueError(f"{request} does not hold a JSON object")
    return sse_records(path.read_bytes(), request=body)


def _print(report: Report, records: Sequence[Record], out: TextIO) -> None:
    for finding in report.findings:
        where = f"{finding.conn} " if finding.conn else ""
        indexes = ",".join(str(i) for i in finding.records)
        out.write(
            f"{finding.verdict.value:<13} {finding.requirement or 'TRANSCRIPT':<14} "
            f"{where}[{indexes}] {finding.message}\n"
        )
        for line in explain(finding, records):
            out.write(f"{'':<14}{line}\n")
    verdicts = report.verdicts()
    counts: dict[str, int] = {}
    for verdict in verdicts.values():
        counts[verdict.value] = counts.get(verdict.value, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "nothing exercised"
    problems = sum(1 for f in report.findings if f.requirement is None)
    out.write(
        f"{report.records} records, {len(verdicts)} requirements: {summary}"
        + (f"; {problems} transcript problems" if problems else "")
        + "\n"
    )

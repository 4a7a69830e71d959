"""``responses-ws trace``: print the traceability matrix of a real run.

Reads the ``report.json`` of a run (``responses-ws check --report-dir DIR`` or the pytest
plugin's ``--rws-report-dir``), the requirement registry and ``conformance/exclusions.yaml``,
and prints for every requirement of the role whether the run tested it, an exclusion covers
it, or it is untested, with totals by level. ``--strict`` exits 1 when a MUST or SHOULD is
untested; a report or exclusions file that cannot be read exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.requirements import load_requirements
from conformance.traceability import (
    TraceError,
    build_matrix,
    load_exclusions,
    load_report,
    render,
)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``trace`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trace",
        help="print the traceability matrix (tested / excluded / untested) from a report.json",
    )
    parser.add_argument(
        "--report", type=Path, required=True, help="the report.json of a conformance run"
    )
    parser.add_argument(
        "--role", choices=("server", "client"), default="server", help="default: server"
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        help="only requirements of this profile (repeatable; default: every profile)",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="default: text"
    )
    parser.add_argument(
        "--exclusions",
        type=Path,
        default=None,
        help="exclusions file (default: the suite's conformance/exclusions.yaml)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="write the matrix here instead of stdout"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a MUST or SHOULD is untested"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the matrix; return 1 on gaps with ``--strict``, 2 on unreadable input."""
    try:
        report = load_report(args.report)
        exclusions = load_exclusions(args.exclusions)
        matrix = build_matrix(
            report, load_requirements(), exclusions, role=args.role, profiles=args.profile
        )
        text = render(matrix, args.format)
    except TraceError as exc:
        print(f"responses-ws trace: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    gaps = matrix.gaps()
    if args.strict and gaps:
        print(
            f"responses-ws trace: {len(gaps)} MUST/SHOULD requirement(s) untested: "
            + ", ".join(row.id for row in gaps),
            file=sys.stderr,
        )
        return 1
    return 0

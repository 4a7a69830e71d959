"""``responses-ws trace``: print the traceability matrix of a real run, or two runs side by
side, or without a run the registry's plan.

With ``--report`` (the ``report.json`` of ``responses-ws check --report-dir DIR`` or of the
pytest plugin's ``--rws-report-dir``) it reads the run, the requirement registry and
``conformance/exclusions.yaml``, and prints for every requirement of the role whether the run
tested it, an exclusion covers it, or it is untested and why, with totals by level. Two
``--report`` options — a run with the scripted model conformance-1 and a run with another
model, told apart by the model each report names — print both columns side by side. Without
``--report`` it prints, from the scenario registry alone, the checks that test each server
requirement with conformance-1 and those that test it with any model.

``--strict`` exits 1 when a MUST or SHOULD is untested in a run; a report or exclusions file
that cannot be read exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.model_coverage import plan, render_plan, render_side_by_side, side_by_side
from conformance.requirements import load_requirements
from conformance.traceability import (
    TraceError,
    TraceMatrix,
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
        help="print the traceability matrix (tested / excluded / untested) from a report.json, "
        "or per model (conformance-1 / any model) from two reports or from the registry",
    )
    parser.add_argument(
        "--report",
        type=Path,
        action="append",
        default=[],
        help="the report.json of a conformance run; twice (a run with conformance-1 and a run "
        "with another model) for both columns; without it, the registry's plan per model",
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


def _plan(args: argparse.Namespace) -> str:
    """The registry's plan: no run, server requirements only."""
    if args.role != "server":
        raise TraceError("without --report only the server requirements have a plan")
    if args.strict:
        raise TraceError("--strict judges a run: give --report")
    # Imported here: loading the scenarios registers them, which a report-only trace skips.
    from conformance.scenarios import all_scenarios

    rows = plan(
        load_requirements(),
        all_scenarios(),
        load_exclusions(args.exclusions),
        profiles=args.profile,
    )
    return render_plan(rows, args.format)


def _matrices(args: argparse.Namespace) -> list[TraceMatrix]:
    exclusions = load_exclusions(args.exclusions)
    registry = load_requirements()
    return [
        build_matrix(load_report(path), registry, exclusions, role=args.role, profiles=args.profile)
        for path in args.report
    ]


def run(args: argparse.Namespace) -> int:
    """Print the matrix; return 1 on gaps with ``--strict``, 2 on unreadable input."""
    matrices: list[TraceMatrix] = []
    try:
        if not args.report:
            text = _plan(args)
        else:
            matrices = _matrices(args)
            if len(matrices) == 1:
                text = render(matrices[0], args.format)
            else:
                text = render_side_by_side(side_by_side(matrices), args.format)
    except (TraceError, ValueError) as exc:
        print(f"responses-ws trace: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    gaps = [row for matrix in matrices for row in matrix.gaps()]
    if args.strict and gaps:
        print(
            f"responses-ws trace: {len(gaps)} MUST/SHOULD requirement(s) untested: "
            + ", ".join(sorted({row.id for row in gaps})),
            file=sys.stderr,
        )
        return 1
    return 0

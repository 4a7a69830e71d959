"""``responses-ws bench``: measure what WebSocket mode and the connection cache save.

Runs every measurement of :mod:`conformance.bench` in one run against reference servers it
starts itself (both I/O drivers, cost model off and on), prints the figures against the
issue's targets and, with ``--json FILE``, writes the full report. ``--plots DIR`` draws the
PNG figures of docs/benchmarks.md from the run (or, with ``--from-json``, from a saved report
without measuring again).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure WebSocket continuation against per-turn connections, on loopback",
        description="Measure, in one run on loopback, what WebSocket mode and the "
        "connection-scoped cache save (bytes, tokens, wall time), the continuation "
        "overhead by turn against the echo floor, throughput, concurrency and the "
        "checker; report medians, ratios and the targets. See docs/benchmarks.md.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="same figures, fewer samples (about a minute)")
    add("--json", metavar="FILE", help="write the full report as JSON")
    add("--plots", metavar="DIR", help="draw the PNG figures into DIR (needs matplotlib)")
    add("--markdown", metavar="FILE", help="write the figures as Markdown tables (for the docs)")
    add("--from-json", metavar="FILE", help="do not measure: read a saved report")
    add(
        "--driver",
        action="append",
        choices=("trio", "asyncio"),
        help="measure only this reference-server I/O driver (repeatable; default both)",
    )
    add("--no-suite", action="store_true", help="skip timing the conformance suite")
    add("--sessions", type=int, help="concurrent sessions (default 500, --quick 100)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure (or load), print, and write what was asked; return the exit status."""
    from conformance.bench import BenchSettings, render_text, run_bench
    from conformance.bench.report import finish, render_markdown

    if args.from_json:
        report = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
    else:
        overrides: dict[str, Any] = {}
        if args.driver:
            overrides["drivers"] = tuple(dict.fromkeys(args.driver))
        if args.no_suite:
            overrides["run_suite"] = False
        if args.sessions:
            overrides["sessions"] = args.sessions
        settings = BenchSettings.make(args.quick, **overrides)
        report = finish(run_bench(settings, lambda line: print(line, file=sys.stderr)))
    print(render_text(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(report) + "\n", encoding="utf-8")
    if args.plots:
        from conformance.bench.plots import draw_all

        for path in draw_all(report, Path(args.plots)):
            print(f"wrote {path}")
    return 0

"""``responses-ws docs``: generate the documentation site's derived pages.

``docs generate`` writes the generated pages below ``docs/`` (spec copies, schema
reference, requirement index, check catalogue, diagrams); ``docs generate --check`` only
lists the stale ones and exits 1 when there are any, which ``make docs-check`` runs in
``make test``. ``docs import-report REPORT`` stores the trimmed ``report.json`` of a
reference run below ``docs/data/`` (``make docs-report`` runs the suites and then this). The
report itself says where it goes: a server run with the scripted model conformance-1 feeds
the "scripted model" column (``reference-report.json``), a server run with any other model
the "any model" column (``reference-any-model-report.json``), a client-suite run the client
verdicts (``reference-client-report.json``) — there is no option to get wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance import _paths

__all__ = ["register", "run_generate", "run_import_report"]


def register(subparsers: Any) -> None:
    """Add the ``docs`` subcommand with ``generate`` and ``import-report``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "docs", help="generate the documentation site's pages (docs/)"
    )
    actions = parser.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate", help="write the generated pages (spec copies, reference, index, diagrams)"
    )
    generate.add_argument(
        "--check", action="store_true", help="list stale pages and exit 1 instead of writing"
    )
    imported = actions.add_parser(
        "import-report",
        help="store a reference run's report.json for the requirement index (its target "
        "model says which column it feeds: conformance-1 or any model)",
    )
    imported.add_argument("report", type=Path, help="the report.json of the reference run")
    imported.add_argument(
        "--check",
        action="store_true",
        help="compare the stored report's verdicts with this run's and exit 1 when they "
        "differ (timings are not compared); nothing is written",
    )
    for sub in (generate, imported):
        sub.add_argument(
            "--root",
            type=Path,
            default=None,
            help="project folder holding docs/, spec/ and schemas/ (default: this checkout)",
        )
    generate.set_defaults(func=run_generate)
    imported.set_defaults(func=run_import_report)


def _root(args: argparse.Namespace) -> Path:
    root: Path | None = args.root
    if root is None:
        root = _paths.data_root()
    if not (root / "docs").is_dir():
        raise SystemExit(f"responses-ws docs: {root} has no docs/ folder (use a source checkout)")
    return root


def run_generate(args: argparse.Namespace) -> int:
    """Write the generated pages, or with ``--check`` list the stale ones and return 1."""
    # Imported here: the generator loads the scenario registry, which --help does not need.
    from conformance.docsgen import stale, write

    root = _root(args)
    if args.check:
        differences = stale(root)
        for difference in differences:
            print(difference)
        if differences:
            print(
                f"responses-ws docs: {len(differences)} generated page(s) out of date; "
                "run 'make docs-generate' (responses-ws docs generate) and commit them",
                file=sys.stderr,
            )
            return 1
        print("responses-ws docs: every generated page is up to date")
        return 0
    for difference in write(root):
        print(f"written ({difference.problem}): docs/{difference.path}")
    return 0


def run_import_report(args: argparse.Namespace) -> int:
    """Store the trimmed report; 2 when it is not a report."""
    from conformance.docsgen import import_report, stale_verdicts

    try:
        if args.check:
            stale = stale_verdicts(_root(args), args.report)
        else:
            target = import_report(_root(args), args.report)
    except (OSError, ValueError) as exc:
        print(f"responses-ws docs: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for line in stale:
            print(f"stale published verdict: {line}")
        if stale:
            print("run `make docs-report` and commit docs/data/ and the regenerated pages")
            return 1
        print("responses-ws docs: the published verdicts are those of this run")
        return 0
    print(f"stored: {target}")
    return 0

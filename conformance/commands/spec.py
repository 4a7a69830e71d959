"""``responses-ws spec``: render the requirement registry into the spec pages and run the
specification self-checks.

``spec render`` rewrites every page of ``spec/`` whose rendered blocks are out of date;
``spec render --check`` only reports them. ``spec check`` runs every check of
:mod:`conformance.spectools.check`, prints one line per check and every problem, and exits 1
when anything failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conformance import _paths
from conformance.spectools.check import CHECKS, run_checks
from conformance.spectools.render import render_pages, write_pages

__all__ = ["register", "run_check", "run_render"]


def register(subparsers: Any) -> None:
    """Add the ``spec`` subcommand with ``check`` and ``render``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "spec", help="render and check the specification (spec/, schemas/)"
    )
    actions = parser.add_subparsers(dest="spec_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="run the specification self-checks")
    check.add_argument(
        "--only",
        action="append",
        choices=[name for name, _ in CHECKS],
        help="run only this check (repeatable)",
    )
    render = actions.add_parser("render", help="render requirements and tables into spec/")
    render.add_argument(
        "--check", action="store_true", help="report stale pages instead of writing them"
    )
    for sub in (check, render):
        sub.add_argument(
            "--root",
            type=Path,
            default=None,
            help="folder holding spec/ and schemas/ (default: the installed data)",
        )
    check.set_defaults(func=run_check)
    render.set_defaults(func=run_render)


def _root(args: argparse.Namespace) -> Path:
    root: Path | None = args.root
    return root if root is not None else _paths.data_root()


def run_check(args: argparse.Namespace) -> int:
    """Print one line per check and each problem; return 1 if any check failed."""
    outcomes = run_checks(_root(args), args.only)
    for outcome in outcomes:
        print(outcome.summary())
        for problem in outcome.problems:
            print(f"    {problem}")
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def run_render(args: argparse.Namespace) -> int:
    """Render the spec pages (or, with ``--check``, list the stale ones and return 1)."""
    root = _root(args)
    if args.check:
        stale = [page for page, (old, new) in render_pages(root).items() if old != new]
        for page in stale:
            print(f"stale: {page.relative_to(root).as_posix()}")
        return 1 if stale else 0
    for page in write_pages(root):
        print(f"rendered: {page.relative_to(root).as_posix()}")
    return 0

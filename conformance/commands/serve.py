"""``responses-ws serve``: run the reference server.

The suite never imports the reference server (they must be able to disagree), so this
command hands over to it as a separate program: ``python -m reference_impl serve``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["hand_over", "register"]


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the reference server (python -m reference_impl serve)",
        add_help=False,
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replace this process with the reference server, passing every argument on."""
    return hand_over(args.rest)


def hand_over(arguments: list[str]) -> int:
    """Replace this process with ``python -m reference_impl serve ARGUMENTS``."""
    os.execv(sys.executable, [sys.executable, "-m", "reference_impl", "serve", *arguments])
    return 0  # pragma: no cover - execv does not return

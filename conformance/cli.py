"""The ``responses-ws`` command: one entry point, one module per subcommand.

Each module in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning the exit status.
Modules are imported lazily so that ``responses-ws --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

# Subcommand modules under conformance.commands, in the order --help lists them.
COMMANDS: tuple[str, ...] = (
    "serve",
    "spec",
    "trace",
    "check",
    "check_client",
    "docs",
    "validate",
    "fuzz",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="responses-ws",
        description="Specification tools, reference server and conformance suite for the "
        "Responses API over WebSocket.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"conformance.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

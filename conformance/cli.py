"""The ``responses-ws`` command: one entry point, one module per subcommand.

Each module in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning the exit status.
A module is imported only when the parser is built.
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
    "proxy",
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
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        # Everything after `serve` belongs to the reference server's own parser; argparse's
        # REMAINDER cannot start with an option (`serve --port 0`), so hand over first.
        from conformance.commands.serve import hand_over

        return hand_over(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

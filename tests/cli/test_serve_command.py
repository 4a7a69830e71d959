"""``responses-ws serve`` hands every argument after ``serve`` to the reference server."""

from __future__ import annotations

import subprocess
import sys

from conformance.cli import build_parser


def test_serve_passes_options_through_to_the_reference_server() -> None:
    """Options such as ``--fault help`` reach the server's parser untouched."""
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "serve", "--fault", "help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "drop-terminal" in result.stdout


def test_every_subcommand_registers() -> None:
    """The parser builds with every listed subcommand and knows each by name."""
    parser = build_parser()
    help_text = parser.format_help()
    for name in ("serve", "spec", "check", "validate", "trace"):
        assert name in help_text

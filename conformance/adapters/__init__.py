"""Client adapters shipped with the suite, and the table the ``client-conformance`` run uses.

Each adapter is a program that follows the adapter contract (docs/client-adapters.md):
``raw_websockets`` (a minimal client on ``websockets``, the project's interpreter),
``openai_sdk`` (the ``openai`` SDK's ``client.responses.connect()``) and ``openai_agents``
(an ``openai-agents`` Runner with a function tool over WebSocket mode), the last two run with
the peers interpreter. ``codex_cli`` drives Codex CLI's ``codex exec`` (installed by
``make peers`` into ``.peers-codex/``); it is standard library only and runs with the
project's interpreter. Their known misses are in ``expected-failures/<adapter>.yaml``.

This module imports nothing but the standard library: the peers interpreter imports the
package when it runs an adapter as ``python -m conformance.adapters.<name>``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ADAPTERS", "ADAPTERS_DIR", "REPO_ROOT", "AdapterInfo", "main_python", "peers_python"]

ADAPTERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = ADAPTERS_DIR.parent.parent


@dataclass(frozen=True)
class AdapterInfo:
    """A shipped adapter: its module, interpreter and declared profiles."""

    name: str
    module: str
    peers: bool  # runs with the peers interpreter (the real SDKs)
    profiles: frozenset[str]
    # profile -> why the adapter does not declare it (its scenarios are SKIPPED with this)
    undeclared: Mapping[str, str] = field(default_factory=dict)

    def command(self, python: str) -> str:
        """The shell command that runs the adapter with ``python``."""
        return f"{shlex.quote(python)} -m conformance.adapters.{self.module}"

    @property
    def expected_failures(self) -> Path:
        """Its expected-failures file."""
        return ADAPTERS_DIR / "expected-failures" / f"{self.name}.yaml"


ADAPTERS: tuple[AdapterInfo, ...] = (
    AdapterInfo(
        "raw-websockets", "raw_websockets", False, frozenset({"core", "multiplex", "steering"})
    ),
    AdapterInfo("openai-sdk", "openai_sdk", True, frozenset({"core", "multiplex", "steering"})),
    AdapterInfo(
        "openai-agents",
        "openai_agents",
        True,
        frozenset({"core"}),
        {
            "multiplex": "the Agents SDK runs one Runner run at a time, without named lanes",
            "steering": "the Agents SDK has no way to add input to a running response "
            "(it never sends response.steer)",
        },
    ),
    AdapterInfo(
        "codex-cli",
        "codex_cli",
        False,
        frozenset({"core"}),
        {
            "multiplex": "codex exec runs one turn at a time, without named lanes",
            "steering": "codex exec takes a turn's whole input up front and cannot add to a "
            "running turn (Codex CLI sends no response.steer)",
        },
    ),
)


def peers_python() -> str | None:
    """The peers interpreter: ``RWS_PEERS_PYTHON``, else ``.venv-peers`` of the checkout."""
    configured = os.environ.get("RWS_PEERS_PYTHON")
    if configured:
        return configured
    candidate = REPO_ROOT / ".venv-peers" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def main_python() -> str:
    """The interpreter running the suite."""
    return sys.executable

"""Peer scripts: run with the peers interpreter (``-m tests.peers.scripts.<name>``), not imported
by the project's own tests. Each prints one JSON report of what a real SDK observed."""

from __future__ import annotations

__all__: list[str] = []

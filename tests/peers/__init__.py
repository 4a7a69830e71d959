"""Real SDK peers (``openai``, ``openai-agents``) against the reference server (issue 3)."""

from __future__ import annotations

__all__: list[str] = []

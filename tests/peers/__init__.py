"""Real peers against the reference server: the ``openai`` and ``openai-agents`` SDKs (issue 3)
and Codex CLI (issue 13)."""

from __future__ import annotations

__all__: list[str] = []

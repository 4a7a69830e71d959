"""Scripts run with the peers interpreter (the official SDK installed) by the interop tests."""

from __future__ import annotations

__all__: list[str] = []

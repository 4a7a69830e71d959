"""The responses-ws reference server: a minimal, complete server of the Responses API over
WebSocket, built as a sans-I/O session core with thin glue on ``websockets.asyncio`` (the
default) or ``websockets.trio``.

This package never imports ``conformance``; it reads only the data in ``schemas/``.
"""

from __future__ import annotations

__all__: list[str] = []

"""The responses-ws conformance suite: it checks servers and clients of the Responses API
over WebSocket against the specification, over the wire only.

This package never imports ``reference_impl``: the suite must be able to fail the
reference server, so it shares no code with it, only the data in ``schemas/`` and ``spec/``.
"""

from __future__ import annotations

__all__: list[str] = []

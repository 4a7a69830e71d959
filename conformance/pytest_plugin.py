"""The pytest plugin of the conformance suite (registered as the ``pytest11`` entry point
``responses_ws``)."""

from __future__ import annotations

__all__: list[str] = []

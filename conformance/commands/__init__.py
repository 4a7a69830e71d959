"""Subcommands of ``responses-ws``; see :mod:`conformance.cli`."""

from __future__ import annotations

__all__: list[str] = []

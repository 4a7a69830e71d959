"""Tests of the transcript checker (conformance.checker) and of transcripts."""

from __future__ import annotations

__all__: list[str] = []

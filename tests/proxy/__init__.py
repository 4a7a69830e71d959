"""Tests of the live-conformance proxy (conformance.proxy)."""

from __future__ import annotations

"""Fixtures of the fuzzer tests: a reference server subprocess shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.fuzz.client import Target
from conformance.harness.config import responses_url
from conformance.harness.spawn import spawn_reference

__all__ = ["reference_target", "target_for"]

PROFILES = frozenset({"core", "multiplex", "conformance-model"})


def target_for(url: str, api_key: str, api_key2: str | None = None) -> Target:
    """The fuzz target for a spawned reference server (two keys: RWS-LIMIT-5 is fuzzed)."""
    return Target(
        url=responses_url(url),
        api_key=api_key,
        model="conformance-1",
        profiles=PROFILES,
        api_key2=api_key2,
    )


@pytest.fixture(scope="session")
def reference_target() -> Iterator[Target]:
    """The reference server without faults, started once for the fuzz tests."""
    with spawn_reference(["--no-steering"]) as server:
        yield target_for(server.url, server.api_keys[0], server.api_keys[1])

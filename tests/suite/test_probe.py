"""The model probe: a server offers a model when it starts a run for it."""

from __future__ import annotations

import pytest

from conformance.harness.probe import offers_model
from tests.suite.reference_server import reference_config

__all__: list[str] = []

pytestmark = pytest.mark.slow


async def test_probe_finds_conformance_1_on_the_reference_server() -> None:
    """The healthy reference server offers conformance-1."""
    with reference_config() as config:
        assert await offers_model(config, "conformance-1")


async def test_probe_reports_an_unknown_model_as_not_offered() -> None:
    """A model the server answers with an error (model_not_found) is not offered."""
    with reference_config() as config:
        assert not await offers_model(config, "no-such-model")


@pytest.mark.parametrize("fault", ["drop-terminal", "stream-id-on-default"])
async def test_probe_finds_conformance_1_on_a_server_whose_runs_are_broken(fault: str) -> None:
    """A broken stream does not hide the model: its checks must run and fail, not be skipped."""
    with reference_config([fault]) as config:
        assert await offers_model(config, "conformance-1")

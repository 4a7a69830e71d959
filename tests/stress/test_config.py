"""The stress parameters: issue 18's numbers as defaults, overrides, and declared limits."""

from __future__ import annotations

import pytest

from conformance.stress.config import (
    StressParams,
    declared_limits,
    param_help,
    parse_limits_header,
)
from conformance.stress.context import Target

__all__: list[str] = []


def test_defaults_are_the_numbers_of_the_issue() -> None:
    p = StressParams()
    assert (p.slow_seconds, p.slow_read_mb_per_s, p.rss_limit_mib) == (40.0, 2.0, 200.0)
    assert (p.queue_requests, p.queue_request_mb, p.growth_limit_mib) == (100, 1.0, 40.0)
    assert (p.input_mb, p.compressed_connections, p.latency_limit_s) == (15.0, 3, 0.5)


def test_overrides_change_only_the_named_parameters_and_keep_their_types() -> None:
    p = StressParams().with_overrides(["slow-reader.seconds=2.5", "queue-flood.requests=7"])
    assert p.slow_seconds == 2.5
    assert p.queue_requests == 7
    assert isinstance(p.queue_requests, int)
    assert p.stall_seconds == StressParams().stall_seconds


@pytest.mark.parametrize(
    ("pair", "said"),
    [
        ("no-such.param=1", "unknown stress parameter"),
        ("slow-reader.seconds", "unknown stress parameter"),
        ("slow-reader.seconds=fast", "expects a number"),
        ("queue-flood.requests=1.5", "expects a number"),
        ("limits.latency-s=0", "must be positive"),
    ],
)
def test_a_bad_override_is_refused_naming_it(pair: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        StressParams().with_overrides([pair])


def test_every_parameter_is_listed_with_its_default_and_meaning() -> None:
    text = param_help()
    for name in StressParams.names():
        assert f"  {name} (default " in text
    assert "slow-reader.run-chars (default 1,000,000)" in text
    assert StressParams().as_dict()["limits.rss-mib"] == 200.0


def test_the_limits_header_is_read_as_name_value_pairs() -> None:
    header = "max-message-size=1048576, busy-lane=queue,,max-queued-requests=8"
    assert parse_limits_header(header) == {
        "max-message-size": "1048576",
        "busy-lane": "queue",
        "max-queued-requests": "8",
    }


def test_a_declared_parameter_wins_over_the_advertised_one_which_wins_over_the_default() -> None:
    limits = declared_limits(
        {"max-message-size": "16777216", "busy-lane": "queue"},
        {"max-message-size": "1048576", "max-queued-requests": "8"},
        {"max-queued-requests": "4"},
    )
    assert limits == {
        "max-message-size": ("1048576", "advertised"),
        "busy-lane": ("queue", "default"),
        "max-queued-requests": ("4", "declared"),
    }


def test_the_reference_servers_queue_bounds_are_read_from_its_header() -> None:
    """RWS-LANE-11, RWS-TRANS-11: both queue bounds, as numbers; an absent or non-numeric
    bound is no bound."""
    header = "max-queued-requests=64,max-queued-bytes=16777216,write-timeout=30"
    limits = declared_limits({}, parse_limits_header(header), {})
    target = Target("ws://127.0.0.1:9/v1/responses", None, "conformance-1", limits)
    assert target.limit("max-queued-requests") == (64, "advertised")
    assert target.limit("max-queued-bytes") == (16_777_216, "advertised")
    none = Target(target.url, None, target.model, {"max-queued-bytes": ("none", "declared")})
    assert none.limit("max-queued-bytes") == (None, "declared")
    assert none.limit("max-queued-requests") == (None, "not declared")

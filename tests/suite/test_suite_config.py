"""The suite's configuration: endpoint URL, timeouts from the environment, parameters."""

from __future__ import annotations

from conformance.harness.config import SuiteConfig, env_float, responses_url


def test_base_urls_get_the_responses_path_and_http_becomes_ws() -> None:
    assert responses_url("ws://h:1") == "ws://h:1/v1/responses"
    assert responses_url("http://h:1/") == "ws://h:1/v1/responses"
    assert responses_url("https://h/api") == "wss://h/api/v1/responses"
    assert responses_url("ws://h:1/v1/responses?x=1") == "ws://h:1/v1/responses?x=1"


def test_timeouts_come_from_the_environment_when_valid() -> None:
    assert env_float("RWS_TIMEOUT", 5.0, {"RWS_TIMEOUT": "2.5"}) == 2.5
    assert env_float("RWS_TIMEOUT", 5.0, {"RWS_TIMEOUT": "soon"}) == 5.0
    assert env_float("RWS_TIMEOUT", 5.0, {"RWS_TIMEOUT": "-1"}) == 5.0
    assert env_float("RWS_QUIET_PERIOD", 0.3, {}) == 0.3


def test_undeclared_parameters_fall_back_to_the_documented_defaults() -> None:
    config = SuiteConfig(server_url="ws://h", parameters={"busy-lane": "reject"})
    assert config.parameter("busy-lane") == "reject"
    assert config.int_parameter("max-named-lanes") == 32
    assert config.parameter("idle-timeout") is None
    assert "api_key" not in config.describe()

"""The settings of one suite run against a server: target, credentials and the two timeouts.

The suite distinguishes two kinds of waiting (conformance-anchors, lesson 5): *must happen
within* (``timeout``: how long the suite waits for something the server owes it) and *must
not happen during* (``quiet_period``: how long the suite watches for something the server
must not do). Both are configurable by command-line flag and by environment variable
(``RWS_TIMEOUT``, ``RWS_QUIET_PERIOD``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The defaults are shared with the command line and the pytest plugin, and live with the
# options they are defaults of (the plugin must not import the harness while it is inert).
from conformance.suite_options import (
    CONFORMANCE_MODEL,
    DEFAULT_QUIET_PERIOD,
    DEFAULT_TIMEOUT,
    env_float,
)

__all__ = [
    "CONFORMANCE_MODEL",
    "DEFAULT_PARAMETERS",
    "DEFAULT_QUIET_PERIOD",
    "DEFAULT_TIMEOUT",
    "SuiteConfig",
    "env_float",
    "responses_url",
]

# docs/development.md, "Server parameters a server declares": the values a server has when it
# declares nothing. idle-timeout has no default (no idle limit).
DEFAULT_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "max-connection-age": "3600",
        "max-message-size": str(16 * 1024 * 1024),
        "max-active-responses": "16",
        "max-named-lanes": "32",
        "busy-lane": "queue",
        # D24: "none" for a server that keeps nothing beyond the connection (no hydration).
        "storage": "durable",
    }
)


def responses_url(server_url: str) -> str:
    """Return the WebSocket URL of ``/v1/responses`` for a server URL.

    Accepts a base URL (``ws://host:port``) or the full endpoint; ``http``/``https`` become
    ``ws``/``wss`` the way the SDK builds its URL.
    """
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme or "ws")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/responses"):
        path = f"{path}/v1/responses"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


@dataclass(frozen=True)
class SuiteConfig:
    """Everything a scenario may need to know about the target and the run."""

    server_url: str
    api_key: str | None = None
    # A second API key the server accepts (RWS-LIMIT-5); None when the user has only one.
    api_key2: str | None = None
    # The user declares that only one API key exists, so RWS-LIMIT-5 is SKIPPED rather than
    # FAILED for the missing second key.
    single_key: bool = False
    # The server runs with this short connection age for testing (seconds), so that the
    # suite can wait for the limit (RWS-LIMIT-1/2); None when it cannot.
    test_connection_age: float | None = None
    # Where that short-lived server listens, when it is not server_url itself.
    age_limit_url: str | None = None
    # The server runs with this short idle-timeout for testing (seconds), so that the suite
    # can wait for it (RWS-LIMIT-4); None when it cannot.
    test_idle_timeout: float | None = None
    # Where that server listens, when it is not server_url itself.
    idle_limit_url: str | None = None
    # An instance of the server without the steering profile (RWS-STEER-1), when the server
    # under test declares steering.
    no_steering_url: str | None = None
    model: str = CONFORMANCE_MODEL
    profiles: frozenset[str] = frozenset({"core"})
    parameters: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    timeout: float = DEFAULT_TIMEOUT
    quiet_period: float = DEFAULT_QUIET_PERIOD
    # Whole-scenario cap, so that one hung check cannot stall the run.
    scenario_timeout: float = 30.0
    # "websocket", or "http": the transport-independent checks over POST /v1/responses on
    # the same base URL (spec section 13, conformance.transport_http).
    transport: str = "websocket"

    @property
    def url(self) -> str:
        """The WebSocket endpoint the suite connects to."""
        return responses_url(self.server_url)

    @property
    def scripted(self) -> bool:
        """Whether exact, directive-driven checks can run (the model is ``conformance-1``)."""
        return self.model == CONFORMANCE_MODEL

    def parameter(self, name: str) -> str | None:
        """Return a declared server parameter, falling back to the documented default."""
        value = self.parameters.get(name)
        return value if value is not None else DEFAULT_PARAMETERS.get(name)

    def int_parameter(self, name: str) -> int | None:
        """Return a declared numeric server parameter as an int, or None."""
        value = self.parameter(name)
        try:
            return int(float(value)) if value is not None else None
        except ValueError:
            return None

    def describe(self) -> dict[str, Any]:
        """The run's target, as reported in ``RunResult.target`` (no credentials)."""
        return {
            "server_url": self.server_url,
            "url": self.url,
            "model": self.model,
            "profiles": sorted(self.profiles),
            "parameters": dict(self.parameters),
            "timeout_s": self.timeout,
            "quiet_period_s": self.quiet_period,
            "second_api_key": self.api_key2 is not None,
            "test_connection_age_s": self.test_connection_age,
            "age_limit_url": self.age_limit_url,
            "test_idle_timeout_s": self.test_idle_timeout,
            "idle_limit_url": self.idle_limit_url,
            "no_steering_url": self.no_steering_url,
            "transport": self.transport,
        }

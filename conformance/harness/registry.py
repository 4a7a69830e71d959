"""The scenario registry: every check of the server suite, with its stable id and metadata.

A scenario is a small async function that drives the wire through a
:class:`~conformance.harness.context.ScenarioContext`. It is registered with the
:func:`scenario` decorator, which records the id (stable forever: baselines and reports key
on it), a one-line title, the requirement IDs it checks, the profile it needs, whether it
needs the scripted ``conformance-1`` model, and what it drives on the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.harness.config import SuiteConfig
    from conformance.harness.context import ScenarioContext

__all__ = ["REGISTRY", "Scenario", "ScenarioFunction", "SkipCondition", "scenario"]

ScenarioFunction = Callable[["ScenarioContext"], Awaitable[None]]
# Returns a reason to skip the scenario under this configuration, or None to run it.
SkipCondition = Callable[["SuiteConfig"], "str | None"]


@dataclass(frozen=True)
class Scenario:
    """One registered check."""

    id: str
    title: str
    requirements: tuple[str, ...]
    profile: str
    needs_model: bool
    drives: str
    func: ScenarioFunction
    skip_if: SkipCondition | None = None
    # Multiplexing checks need every profile listed here (e.g. multiplex + conformance-model).
    extra_profiles: tuple[str, ...] = ()
    # Client requirements the scenario breaks on purpose (a binary frame, stream_id null...);
    # any other client-side finding over its transcript is a bug of the suite itself.
    deliberate: tuple[str, ...] = ()

    def skip_reason(self, config: SuiteConfig) -> str | None:
        """Why this scenario cannot run against ``config`` (None when it can)."""
        for profile in (self.profile, *self.extra_profiles):
            if profile not in config.profiles:
                return f"profile {profile!r} not declared"
        if self.needs_model and not config.scripted:
            return (
                f"not runnable with model {config.model!r}: needs the scripted model "
                "'conformance-1' (profile conformance-model)"
            )
        if config.transport == "http":
            # Spec 13.6: what needs the WebSocket connection itself does not run over HTTP.
            from conformance.transport_http import websocket_only

            reason = websocket_only(self)
            if reason is not None:
                return reason
        return self.skip_if(config) if self.skip_if is not None else None


REGISTRY: dict[str, Scenario] = {}


def scenario(
    id: str,
    title: str,
    *,
    requirements: tuple[str, ...],
    drives: str,
    profile: str = "core",
    needs_model: bool = True,
    skip_if: SkipCondition | None = None,
    extra_profiles: tuple[str, ...] = (),
    deliberate: tuple[str, ...] = (),
) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register the decorated async function as a scenario."""

    def register(func: ScenarioFunction) -> ScenarioFunction:
        if id in REGISTRY:
            raise ValueError(f"duplicate scenario id {id!r}")
        REGISTRY[id] = Scenario(
            id=id,
            title=title,
            requirements=requirements,
            profile=profile,
            needs_model=needs_model,
            drives=drives,
            func=func,
            skip_if=skip_if,
            extra_profiles=extra_profiles,
            deliberate=deliberate,
        )
        return func

    return register

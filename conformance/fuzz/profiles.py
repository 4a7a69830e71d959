"""Hypothesis settings profiles of the fuzzer: ``dev``, ``ci`` and ``nightly``.

Each profile is registered with Hypothesis under its name (so ``--hypothesis-profile`` and
``settings.load_profile`` work) with the stateless example count as ``max_examples``; the
stateful machine takes its session count and steps per session from :data:`BUDGETS`, and both
fuzzers stop shrinking after the budget's ``shrink_seconds``. A
network peer is driven, so there is no deadline; ``ci`` is derandomized so that a run is
reproducible; no profile writes an example database into the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings

__all__ = [
    "BUDGETS",
    "DEFAULT_PROFILE",
    "Budget",
    "profile_name",
    "stateful_settings",
    "stateless_settings",
]


@dataclass(frozen=True)
class Budget:
    """How much one profile runs."""

    stateless_examples: int
    stateful_sessions: int
    steps_per_session: int
    derandomize: bool
    # Seconds of shrinking after the first failure; then the smallest failure found so far is
    # kept (against a slow server Hypothesis would otherwise shrink for up to five minutes).
    shrink_seconds: float


BUDGETS: dict[str, Budget] = {
    "dev": Budget(200, 20, 12, derandomize=False, shrink_seconds=60),
    "ci": Budget(2000, 200, 20, derandomize=True, shrink_seconds=60),
    "nightly": Budget(20000, 2000, 40, derandomize=False, shrink_seconds=300),
}

DEFAULT_PROFILE = "dev"

# Fuzzing a server is slow by Hypothesis's standards and filters strategies on purpose.
_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]

for _name, _budget in BUDGETS.items():
    settings.register_profile(
        _name,
        max_examples=_budget.stateless_examples,
        stateful_step_count=_budget.steps_per_session,
        derandomize=_budget.derandomize,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=_SUPPRESSED,
        print_blob=False,
        # The explain phase reruns the failure under coverage: slow against a network peer,
        # and its "lines run by failing cases" are the fuzzer's, not the server's.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )


def profile_name(name: str | None = None) -> str:
    """The profile to use: ``name``, else env ``RWS_FUZZ_PROFILE``, else ``dev``."""
    chosen = name or os.environ.get("RWS_FUZZ_PROFILE") or DEFAULT_PROFILE
    if chosen not in BUDGETS:
        raise ValueError(f"unknown fuzz profile {chosen!r}; choose one of {', '.join(BUDGETS)}")
    return chosen


def _settings(name: str, examples: int, seed: int | None) -> settings:
    # An explicit seed means "this run, again": derandomizing would ignore it.
    return settings(
        settings.get_profile(name),
        max_examples=examples,
        derandomize=BUDGETS[name].derandomize and seed is None,
    )


def stateless_settings(
    name: str, max_examples: int | None = None, seed: int | None = None
) -> settings:
    """Settings for the stateless fuzzer under profile ``name``."""
    return _settings(name, max_examples or BUDGETS[name].stateless_examples, seed)


def stateful_settings(
    name: str, max_sessions: int | None = None, seed: int | None = None
) -> settings:
    """Settings for the stateful machine: one example is one session."""
    return _settings(name, max_sessions or BUDGETS[name].stateful_sessions, seed)

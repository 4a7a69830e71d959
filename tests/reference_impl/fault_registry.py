"""The registry of rule checks: one per fault switch of the reference server.

A *rule check* drives the sans-I/O session with a set of fault switches on and returns whether
the rule its faults break held. The checks live in ``test_faults.py`` and the
``fault_rules_*.py`` modules, which register them here with :func:`check`;
``test_faults.py`` asserts that each holds on a correct session and fails with its fault on.
"""

from __future__ import annotations

from collections.abc import Callable

from reference_impl.faults import Faults

__all__ = ["CHECKS", "RuleCheck", "check"]

RuleCheck = Callable[[Faults], bool]

#: The rule check of each fault, by fault name.
CHECKS: dict[str, RuleCheck] = {}


def check(*names: str) -> Callable[[RuleCheck], RuleCheck]:
    """Register the decorated function as the rule check of the faults ``names``."""

    def register(fn: RuleCheck) -> RuleCheck:
        for name in names:
            assert name not in CHECKS, f"{name} has two rule checks"
            CHECKS[name] = fn
        return fn

    return register

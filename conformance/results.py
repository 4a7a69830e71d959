"""Result types of a conformance run: one ``CheckResult`` per check, one ``RunResult`` per run.

This module is the shared interface between the suite's runner (harness, scenarios, the
``responses-ws check`` command) and its report writers. It holds data only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CheckResult", "RunResult", "Verdict"]


class Verdict(enum.Enum):
    """The verdict of a check, or of a check about one requirement (docs/development.md)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    WARNING = "WARNING"
    INFORMATIONAL = "INFORMATIONAL"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class CheckResult:
    """What one check did and concluded."""

    id: str  # stable check id, e.g. "cache.store-false-miss-after-reconnect" (never renamed)
    title: str  # one line, what the check does
    requirements: tuple[str, ...]  # requirement IDs the check tests
    verdict: Verdict
    duration_s: float
    message: str  # expected vs actual ("" when PASSED)
    wire_log: tuple[dict[str, Any], ...]  # the transcript records of this check
    requirement_verdicts: Mapping[str, Verdict]  # per requirement: what this check concluded
    details: Mapping[str, Any]  # free-form data (e.g. INFORMATIONAL observations, timings)


@dataclass(frozen=True)
class RunResult:
    """A whole run: every check, when it started, how long it took, and what it ran against."""

    checks: tuple[CheckResult, ...]
    started_at: str  # ISO 8601
    duration_s: float
    target: Mapping[str, Any]  # server url, model, declared profiles and parameters, suite version

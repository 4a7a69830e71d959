"""Run the sans-I/O checker (``conformance.checker``) over one scenario's transcript.

The checker owns every rule of the data (schemas, ordering, deltas, sequence numbers, error
shapes); the harness never re-implements them. This module only adapts its findings to the
runner: one :class:`CheckerFinding` per requirement, plus how often each requirement was
exercised.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.harness.config import SuiteConfig
from conformance.results import Verdict

__all__ = ["CheckerFinding", "check_transcript", "checker_available", "harness_findings"]


@dataclass(frozen=True)
class CheckerFinding:
    """What the checker concluded about one requirement over one transcript."""

    verdict: Verdict
    message: str
    # Every finding behind it: (verdict, message, transcript record indexes), in order.
    occurrences: tuple[tuple[Verdict, str, tuple[int, ...]], ...] = ()


def _checker_module() -> Any:
    try:
        module = importlib.import_module("conformance.checker")
    except ImportError:
        return None
    return module if hasattr(module, "Checker") else None


def checker_available() -> bool:
    """Whether ``conformance.checker`` can be imported."""
    return _checker_module() is not None


def _verdict(value: Any) -> Verdict:
    name = getattr(value, "value", value)
    try:
        return Verdict(str(name).upper())
    except ValueError:
        return Verdict.FAILED


def check_transcript(
    records: Sequence[Mapping[str, Any]], config: SuiteConfig
) -> tuple[dict[str, CheckerFinding], dict[str, int]]:
    """Feed ``records`` to the checker; return findings and exercised counts by requirement."""
    module = _checker_module()
    if module is None:
        return {}, {}
    checker = module.Checker(_checker_config(module, config))
    for record in records:
        checker.feed(dict(record))
    report = checker.finish()
    findings: dict[str, list[tuple[Verdict, str, tuple[int, ...]]]] = {}
    for finding in getattr(report, "findings", report):
        # A finding without a requirement is a problem of the transcript (a suite bug).
        requirement = str(getattr(finding, "requirement", None) or "suite:transcript")
        verdict = _verdict(getattr(finding, "verdict", "FAILED"))
        where = tuple(int(i) for i in getattr(finding, "records", ()) or ())
        message = str(getattr(finding, "message", ""))
        findings.setdefault(requirement, []).append((verdict, message, where))
    exercised = {str(k): int(v) for k, v in dict(getattr(report, "exercised", {})).items()}
    merged: dict[str, CheckerFinding] = {}
    order = [Verdict.FAILED, Verdict.WARNING, Verdict.INFORMATIONAL, Verdict.PASSED]
    for requirement, found in findings.items():
        for verdict in order:
            messages = [message for v, message, _records in found if v is verdict]
            if messages:
                merged[requirement] = CheckerFinding(verdict, "; ".join(messages[:3]), tuple(found))
                break
    for requirement, count in exercised.items():
        if count > 0 and requirement not in merged:
            merged[requirement] = CheckerFinding(Verdict.PASSED, "")
    return merged, exercised


def _checker_config(module: Any, config: SuiteConfig) -> Any:
    # The server suite judges the server only: the suite's own messages are deliberately
    # broken at times (stream_id null, background true) to see how the server answers.
    return module.CheckerConfig(
        profiles=frozenset(config.profiles),
        parameters=dict(config.parameters),
        roles=frozenset({"server"}),
    )


def harness_findings(
    records: Sequence[Mapping[str, Any]], config: SuiteConfig, deliberate: Sequence[str]
) -> list[str]:
    """The suite's own protocol violations in a transcript, other than ``deliberate`` ones.

    The checker judges the client role over the suite's messages; a finding there means the
    suite sent something it did not mean to, so its verdict about the server may be wrong.
    """
    module = _checker_module()
    if module is None:
        return []
    checker = module.Checker(
        module.CheckerConfig(
            profiles=frozenset(config.profiles),
            parameters=dict(config.parameters),
            roles=frozenset({"client"}),
        )
    )
    for record in records:
        checker.feed(dict(record))
    report = checker.finish()
    out: list[str] = []
    for finding in getattr(report, "findings", ()):
        requirement = getattr(finding, "requirement", None)
        if requirement is None or requirement in deliberate:
            continue
        out.append(f"{requirement}: {getattr(finding, 'message', '')}")
    return out

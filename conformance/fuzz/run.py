"""One entry point for the fuzzers, shared by the command and by callers such as a pytest plugin.

:func:`fuzz` runs the stateless fuzzer, the stateful one, or both, against a
:class:`~conformance.fuzz.client.Target`, writes ``fuzz-report.json`` (linking the minimal
transcript of any failure) into the output folder and returns the reports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.fuzz.client import Target
from conformance.fuzz.progress import Reporter
from conformance.fuzz.result import FuzzReport
from conformance.fuzz.stateful import run_stateful
from conformance.fuzz.stateless import run_stateless

__all__ = ["MODES", "fuzz", "replay_command", "report_json"]

MODES: tuple[str, ...] = ("stateless", "stateful", "both")


def replay_command(path: Path, profiles: frozenset[str]) -> str:
    """The ``responses-ws validate`` command line that replays a fuzzer transcript."""
    flags = " ".join(f"--profile {p}" for p in sorted(profiles))
    return f"responses-ws validate {path} --role server {flags}"


def report_json(reports: Sequence[FuzzReport], target: Target) -> dict[str, Any]:
    """The JSON form of a fuzzing run's reports."""
    return {
        "server": target.url,
        "model": target.model,
        "profiles": sorted(target.profiles),
        "ok": all(r.ok for r in reports),
        "runs": [
            {
                "mode": r.mode,
                "profile": r.profile,
                "examples": r.examples,
                "seconds": round(r.seconds, 3),
                "failure": r.failure,
                "falsifying": r.falsifying,
                "transcript": str(r.transcript) if r.transcript else None,
                "transcript_records": r.records,
                "replay": replay_command(r.transcript, target.profiles) if r.transcript else None,
                "known_hits": dict(r.known_hits),
            }
            for r in reports
        ],
    }


def fuzz(
    target: Target,
    *,
    mode: str = "stateless",
    profile: str = "dev",
    out_dir: Path = Path("fuzz-out"),
    max_examples: int | None = None,
    seed: int | None = None,
    known: Sequence[str] = (),
    report: Reporter | None = None,
) -> list[FuzzReport]:
    """Run the fuzzer(s) of ``mode``; write ``fuzz-report.json``; return the reports.

    ``max_examples`` is the number of stateless examples, or of stateful sessions; ``report``
    receives lines of progress while the fuzzers search and shrink.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    reports: list[FuzzReport] = []
    if mode in ("stateless", "both"):
        reports.append(
            run_stateless(
                target,
                profile,
                out_dir,
                max_examples=max_examples,
                seed=seed,
                known=known,
                report=report,
            )
        )
    if mode in ("stateful", "both"):
        reports.append(
            run_stateful(
                target,
                profile,
                out_dir,
                max_sessions=max_examples,
                seed=seed,
                known=known,
                report=report,
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fuzz-report.json").write_text(
        json.dumps(report_json(reports, target), indent=2) + "\n", encoding="utf-8"
    )
    return reports

"""The outcome of a fuzzing run, and how a failure is turned into a replayable transcript.

Hypothesis shrinks a failing example and runs the minimal one last; the
:class:`~conformance.fuzz.oracle.FuzzFailure` it raises carries that run's transcript.
:func:`conclude` writes it as JSON Lines (the transcript format, so ``responses-ws validate``
replays it) and returns a :class:`FuzzReport` that links it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hypothesis.errors import Flaky

from conformance.fuzz.client import Tape
from conformance.fuzz.oracle import FuzzFailure

__all__ = [
    "UNSTABLE",
    "FuzzReport",
    "KnownFailures",
    "conclude",
    "failure_message",
    "find_failure",
]

#: Said of a failure Hypothesis could not replay the same way, so could not shrink further.
UNSTABLE = (
    "The server answered differently when this failure was replayed (its behaviour depends on "
    "timing or on state the fuzzer does not control), so the transcript is the smallest "
    "failing example seen, not a fully shrunk one."
)


@dataclass(frozen=True)
class FuzzReport:
    """What one fuzzing run did and found."""

    mode: str  # "stateless" or "stateful"
    profile: str
    examples: int  # examples (stateless) or sessions (stateful) executed, shrinking included
    seconds: float
    failure: str | None = None
    transcript: Path | None = None
    falsifying: str | None = None  # Hypothesis's description of the minimal example
    records: int = 0  # records in the minimal transcript
    # known findings tolerated during the run: pattern -> examples that hit it
    known_hits: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run found nothing."""
        return self.failure is None

    def summary(self) -> str:
        """A few lines for a console."""
        unit = "examples" if self.mode == "stateless" else "sessions"
        head = (
            f"{self.mode}: {self.examples} {unit} in {self.seconds:.1f} s (profile {self.profile})"
        )
        known = "".join(
            f"\n  tolerated known finding ({n} examples): {pattern}"
            for pattern, n in self.known_hits.items()
            if n
        )
        if self.ok:
            return f"{head}: no failure{known}"
        lines = [f"{head}: FAILED", f"  {self.failure}"]
        if self.falsifying:
            lines.extend("  " + line for line in self.falsifying.splitlines())
        if self.transcript is not None:
            lines.append(f"  minimal transcript ({self.records} records): {self.transcript}")
        return "\n".join(lines) + known


def _walk(exc: BaseException) -> Iterator[BaseException]:
    yield exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _walk(inner)
    if exc.__cause__ is not None:
        yield from _walk(exc.__cause__)


def find_failure(exc: BaseException) -> FuzzFailure | None:
    """The :class:`FuzzFailure` inside ``exc`` (Hypothesis may wrap it in a group)."""
    for inner in _walk(exc):
        if isinstance(inner, FuzzFailure):
            return inner
    return None


def failure_message(exc: BaseException | None) -> str | None:
    """What failed an example: the :class:`FuzzFailure`'s message, or the exception's (None
    for no exception, and for Hypothesis's own control flow, which is no ``Exception``)."""
    if not isinstance(exc, Exception):
        return None
    failure = find_failure(exc)
    return failure.message if failure is not None else f"{type(exc).__name__}: {exc}"


def conclude(
    mode: str,
    profile: str,
    examples: int,
    seconds: float,
    exc: BaseException | None,
    out_dir: Path,
    last_tape: Tape | None,
    known_hits: Mapping[str, int] | None = None,
    smallest: BaseException | None = None,
) -> FuzzReport:
    """Build the report; on failure write the minimal transcript to ``out_dir``.

    ``smallest`` is the exception of the smallest failing example the run saw: when Hypothesis
    ends with an error of its own instead of the failure (it could not replay the failure the
    same way, because the server answered differently the second time), that failure is what
    the report shows - a finding is never replaced by the fuzzer's own trouble.
    """
    hits = dict(known_hits or {})
    if exc is None:
        return FuzzReport(mode, profile, examples, seconds, known_hits=hits)
    failure = find_failure(exc)
    unstable: str | None = None
    if failure is None and smallest is not None and isinstance(exc, Flaky):
        exc = smallest
        failure = find_failure(exc)
        unstable = UNSTABLE
    tape = failure.tape if failure is not None else last_tape
    message = failure.message if failure is not None else f"{type(exc).__name__}: {exc}"
    notes = getattr(exc, "__notes__", None) or (
        getattr(failure, "__notes__", None) if failure is not None else None
    )
    lines = [*(str(n) for n in notes or ()), *([unstable] if unstable else [])]
    falsifying = "\n".join(lines) if lines else None
    path: Path | None = None
    records = 0
    if tape is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{mode}-failure.jsonl"
        lines = tape.lines()
        records = len(lines)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return FuzzReport(mode, profile, examples, seconds, message, path, falsifying, records, hits)


class KnownFailures:
    """A context manager that swallows a :class:`FuzzFailure` whose message matches one of
    the known patterns, and counts it."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [(p, re.compile(p)) for p in patterns]
        self.hits: dict[str, int] = dict.fromkeys(patterns, 0)

    def __enter__(self) -> KnownFailures:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if not isinstance(exc, FuzzFailure):
            return False
        for pattern, regex in self.patterns:
            if regex.search(exc.message):
                self.hits[pattern] += 1
                return True
        return False

"""The stateless fuzzer: one frame (or a mutation's few frames) per example, on a fresh connection.

Each example opens a connection, sends a valid client event or a mutation, and checks:

* the answer is the one the spec requires (:func:`conformance.fuzz.oracle.answer`): a valid
  event gets one outcome (RWS-CREATE-12), an invalid one the specified error event or close;
* the connection stays usable: a normal request afterwards completes (RWS-ERR-3);
* the checker, run over the example's transcript, reports no FAILED server requirement.

A failure is shrunk by Hypothesis; the minimal example's transcript is written to the output
folder (:func:`conformance.fuzz.result.conclude`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.control import current_build_context

from conformance.fuzz.client import Frame, Tape, Target, WireClient
from conformance.fuzz.mutations import Expected, Mutation, mutations
from conformance.fuzz.oracle import TapeChecker, answer, still_usable
from conformance.fuzz.profiles import stateless_settings
from conformance.fuzz.progress import Progress, Reporter
from conformance.fuzz.result import FuzzReport, KnownFailures, conclude, failure_message
from conformance.fuzz.strategies import response_create, response_steer

__all__ = ["check_example", "run_stateless", "stateless_examples", "valid_examples"]


def valid_examples(target: Target) -> st.SearchStrategy[Mutation]:
    """Valid client events as examples, with the answer the spec requires."""
    lanes = "multiplex" in target.profiles
    creates = response_create(target.model, lanes=lanes).map(
        lambda e: Mutation(
            "valid_create",
            (Frame.json(e),),
            # RWS-CREATE-12: one outcome, a run or an allowed request-scoped error.
            Expected("outcome", ("RWS-CREATE-12",)),
            e,
        )
    )
    steers = response_steer().map(
        lambda e: Mutation(
            "valid_steer",
            (Frame.json(e),),
            # RWS-STEER-1/2: one reply; the oracle narrows the codes to the declared profiles.
            Expected(
                "steer",
                ("RWS-STEER-1", "RWS-STEER-2"),
                frozenset({"steering_not_supported", "response_not_found"}),
            ),
            e,
        )
    )
    return st.one_of(creates, creates, creates, steers)


def stateless_examples(target: Target) -> st.SearchStrategy[Mutation]:
    """Every example kind: valid events about two times in five, mutations otherwise."""
    valid = valid_examples(target)
    return st.one_of(
        valid, valid, mutations(target.model), mutations(target.model), mutations(target.model)
    )


def check_example(
    target: Target,
    mutation: Mutation,
    tape: Tape | None = None,
    known: Sequence[str] = (),
    hits: dict[str, int] | None = None,
) -> Tape:
    """Run one example on a fresh connection; raise ``FuzzFailure`` when the server errs.

    Checker findings matching a ``known`` pattern are tolerated.
    """
    tape = tape if tape is not None else Tape()
    client = WireClient(target, tape)
    try:
        answer(client, mutation)
        client = still_usable(client)
    finally:
        client.close()
    checker = TapeChecker(target.profiles, known, target.busy_lane)
    try:
        checker.assert_clean(tape)
    finally:
        for pattern, n in checker.hits.items():
            if hits is not None:
                hits[pattern] = hits.get(pattern, 0) + n
    return tape


def run_stateless(
    target: Target,
    profile: str,
    out_dir: Path,
    *,
    max_examples: int | None = None,
    seed: int | None = None,
    strategy: st.SearchStrategy[Mutation] | None = None,
    known: Sequence[str] = (),
    report: Reporter | None = None,
    interval: float = 5.0,
) -> FuzzReport:
    """Fuzz ``target`` statelessly; return the report (with a transcript on failure).

    ``known`` are regular expressions of failure messages to tolerate (known findings that
    are being fixed); examples that hit them are counted in the report, not raised.
    ``report`` receives a line of progress at each phase change and at most every
    ``interval`` seconds otherwise; shrinking stops after the profile's ``shrink_seconds``.
    """
    tolerated = KnownFailures(known)
    last: list[Tape] = []
    examples = strategy if strategy is not None else stateless_examples(target)
    config = stateless_settings(profile, max_examples, seed)
    progress = Progress.of_profile("stateless", profile, config.max_examples, report, interval)

    @config
    @given(mutation=examples)
    def fuzz(mutation: Mutation) -> None:
        if not progress.started(current_build_context().is_final):
            reject()  # the shrink budget is spent: Hypothesis keeps the smallest failure
        tape = Tape()
        last[:] = [tape]
        failure: str | None = None
        error: BaseException | None = None
        try:
            with tolerated:
                check_example(target, mutation, tape, known, tolerated.hits)
        except Exception as exc:
            failure, error = failure_message(exc), exc
            raise
        finally:
            progress.ended(failure, len(tape.records), error)

    test: Any = fuzz if seed is None else hypothesis_seed(seed)(fuzz)
    started = time.monotonic()
    error: BaseException | None = None
    try:
        test()
    except Exception as exc:  # Hypothesis re-raises the minimal example's failure
        error = exc
    return conclude(
        "stateless",
        profile,
        progress.examples,
        time.monotonic() - started,
        error,
        out_dir,
        last[0] if last else None,
        tolerated.hits,
        progress.smallest_error,
    )

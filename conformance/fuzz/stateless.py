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

from hypothesis import given
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from conformance.fuzz.client import Frame, Tape, Target, WireClient
from conformance.fuzz.mutations import Expected, Mutation, mutations
from conformance.fuzz.oracle import TapeChecker, answer, still_usable
from conformance.fuzz.profiles import stateless_settings
from conformance.fuzz.result import FuzzReport, KnownFailures, conclude
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
) -> FuzzReport:
    """Fuzz ``target`` statelessly; return the report (with a transcript on failure).

    ``known`` are regular expressions of failure messages to tolerate (known findings that
    are being fixed); examples that hit them are counted in the report, not raised.
    """
    count = 0
    tolerated = KnownFailures(known)
    last: list[Tape] = []
    examples = strategy if strategy is not None else stateless_examples(target)

    @stateless_settings(profile, max_examples, seed)
    @given(mutation=examples)
    def fuzz(mutation: Mutation) -> None:
        nonlocal count
        count += 1
        tape = Tape()
        last[:] = [tape]
        with tolerated:
            check_example(target, mutation, tape, known, tolerated.hits)

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
        count,
        time.monotonic() - started,
        error,
        out_dir,
        last[0] if last else None,
        tolerated.hits,
    )

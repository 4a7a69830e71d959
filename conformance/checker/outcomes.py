"""Whether a request got the outcome the rule tables predict, and what a continuation restored.

A request's outcome is a run (``response.created``) or a request-scoped error. It is judged
against the expectation ``requests.json`` gave the request when it was sent or, for a
continuation (``previous_response_id``), against the prediction ``cache.json`` makes of the
connection cache (:mod:`conformance.checker.cache`), made again when the outcome comes. With
the conformance model the checker also recomputes the context a run saw, to judge the
model's context reply and ``cached_tokens`` (RWS-CACHE-2, RWS-MODEL-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.checker import model
from conformance.checker.cache import Prediction, facts
from conformance.checker.cache import predict as predict_cache
from conformance.checker.limits import Limits
from conformance.checker.ordering import short
from conformance.checker.rules import Path, resolve
from conformance.checker.run import Request, Run

__all__ = ["Outcomes", "expects"]

_REPLY_TEXT: Path = ("content", 0, "text")
_CACHED_TOKENS: Path = ("response", "usage", "input_tokens_details", "cached_tokens")
_NOT_FOUND = "previous_response_not_found"


class Outcomes(Limits):
    """Judges request outcomes against expectations and cache predictions."""

    def _predict(self, request: Request) -> Prediction:
        assert request.previous is not None
        found = facts(
            self.cache,
            self.checker.knowledge,
            request.previous,
            request.lane,
            self.conn,
            self.principal,
        )
        entry = self.cache.requirements_of(request.previous)
        return predict_cache(self.rules.cache, found, entry, self.checker.config.parameters)

    def _context(self, request: Request) -> list[Any] | None:
        """A.1: the context of the run (None when the checker cannot know it)."""
        normalized = model.normalize_input(request.body.get("input"))
        if normalized is None:
            return None
        if request.previous is None:
            return normalized
        before = self.checker.knowledge.responses.get(request.previous)
        if before is None or before.context is None:
            return None
        request.restored = [*before.context, *before.output]
        return [*request.restored, *normalized]

    def _judge_outcome(self, request: Request, error_code: str | None, index: int) -> None:
        """Compare a request's outcome (a run when error_code is None) with its prediction."""
        outcome = "a run" if error_code is None else f"error {error_code}"
        expectation = request.expectation
        if expectation is not None:
            self.recorder.exercise(expectation.requirements)
            if error_code is None and expectation.run_allowed:
                return
            if error_code not in expectation.codes and not self._limit_may_answer(
                request, error_code
            ):
                wanted = f"error {' or '.join(expectation.codes)}"
                if expectation.run_allowed:
                    wanted = f"a run or {wanted}"
                failing = expectation.requirements
                if error_code is None and expectation.run_forbidden_by:
                    failing = expectation.run_forbidden_by
                self._fail(
                    failing,
                    f"expected {wanted} ({expectation.reason}) / actual {outcome}",
                    request.index,
                    index,
                )
            return
        if request.prediction is None:
            return
        sent = request.prediction
        now = self._predict(request)
        # The cache changed while the request waited: no verdict, unless the previous
        # response was not known yet when the request was sent (a pipelined continuation).
        changed = (sent.expect, sent.code) != (now.expect, now.code)
        if changed and (sent.facts.get("known") is not False or now.expect == "open"):
            return
        request.judged = now
        if now.expect == "open":
            if now.requirements:
                self._fail(
                    now.requirements,
                    f"observed {outcome} for a continuation of {now.describe()}",
                    request.index,
                    index,
                )
            return
        # Only the pair "run" / the predicted error code is judged: an unrelated error (a rate
        # limit, a validation error) says nothing about the previous response.
        if now.expect == "served":
            judged, broken = True, error_code == _NOT_FOUND
            wanted = f"no {_NOT_FOUND} (a run)"
        else:
            judged, broken = error_code in (None, now.code), error_code is None
            wanted = f"error {now.code}"
        if not judged:
            return
        self.recorder.exercise(now.requirements)
        if broken:
            self._fail(
                now.requirements,
                f"expected {wanted} for a continuation of {now.describe()} / actual {outcome}",
                request.index,
                index,
            )

    def _model_checks(self, run: Run, terminal: Mapping[str, Any], etype: str) -> None:
        request = run.request
        if (
            "conformance-model" not in self.checker.config.profiles
            or request.body.get("model") != model.MODEL_ID
            or etype not in ("response.completed", "response.incomplete")
            or run.facts is None
            or run.facts.context is None
        ):
            return
        judged = request.judged
        hit = judged is not None and judged.facts.get("cached") in ("own_lane", "other_lane")
        if request.previous is None:
            requirements: tuple[str, ...] = ("RWS-LANE-8", "RWS-MODEL-2")
        elif request.successor_of is not None:
            # RWS-STEER-4: the successor's context commits every input accepted before it.
            requirements = ("RWS-STEER-4",)
        elif judged is not None and judged.expect == "served":
            requirements = judged.requirements
        else:
            requirements = ("RWS-MODEL-2",)
        context = run.facts.context
        for item in run.facts.output:
            text = resolve(item, _REPLY_TEXT)
            match = model.CONTEXT_REPLY.fullmatch(text) if isinstance(text, str) else None
            if match is None:
                continue
            # RWS-CACHE-2: the context is the previous context, its output, the new input.
            self.recorder.exercise(requirements)
            count, dig = int(match.group(1)), match.group(2)
            want = (len(context), model.digest(context))
            if (count, dig) != want:
                run.fail(
                    requirements,
                    f"expected rws:context reply items={want[0]} digest={want[1][:12]}... / "
                    f"actual items={count} digest={dig[:12]}...",
                )
        # RWS-MODEL-3: cached_tokens = tokens of what was restored from the connection cache.
        if request.previous is None or (judged is not None and judged.expect == "served"):
            expected = model.tokens(request.restored) if hit and request.restored else 0
            actual = resolve(terminal, _CACHED_TOKENS)
            self.recorder.exercise1("RWS-MODEL-3")
            if actual != expected:
                run.fail(
                    ("RWS-MODEL-3",),
                    f"expected usage.input_tokens_details.cached_tokens {expected} / actual "
                    f"{short(actual)}",
                )


def expects(request: Request, code: str, param: Any) -> bool:
    """Whether the rule tables predict this error as the request's outcome."""
    expectation = request.expectation
    if expectation is not None:
        return code in expectation.codes and expectation.param_ok(code, param)
    prediction = request.prediction
    return prediction is not None and prediction.expect == "error" and prediction.code == code

"""The client's messages on one connection: what each one is, and what it must be answered with.

A text message is a ``response.create`` (queued on its lane with the expectation
``requests.json`` gives it, or with a cache prediction when it continues a response), a
``response.steer``, or a bad frame the server owes an answer for (``requests.json`` "frames":
an error event, or for a text message that is not valid UTF-8 the close that RFC 6455 gives).
The client-role rules of ``requests.json`` are judged here as well, as each message is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance.checker.depth import nesting_depth, shallow_loads
from conformance.checker.lanes import Lane
from conformance.checker.limits import as_float
from conformance.checker.ordering import short
from conformance.checker.outcomes import Outcomes
from conformance.checker.run import Expectation, Request
from conformance.transcript import Record
from conformance.wording import lane_name, not_utf8

__all__ = ["ClientMessages"]


class ClientMessages(Outcomes):
    """Reads the client's messages and records what each one is owed."""

    def client_text(self, record: Record) -> None:
        """A text message from the client."""
        if not record.utf8:
            # RWS-TRANS-6: JSON text is UTF-8; a message that is not is no client event, and
            # the WebSocket layer answers it (D18; requests.json "frames").
            self._bad_frame(
                "invalid_utf8",
                record.index,
                expected="one JSON object in UTF-8 per text message",
                actual=not_utf8(record.data),
            )
            return
        text = record.text or ""
        deep = self.rules.requests.deep
        # RWS-CREATE-21: a message nested past the limit may also be answered invalid_json,
        # and is read shallowly (its deep values replaced), as recursive parsers fail on it.
        too_deep = deep is not None and nesting_depth(text, int(deep["max_depth"])) > int(
            deep["max_depth"]
        )
        try:
            obj = (
                shallow_loads(text, int(deep["max_depth"]))
                if deep and too_deep
                else json.loads(text)
            )
        except (ValueError, RecursionError):
            self._bad_frame("not_json", record.index)
            return
        if not isinstance(obj, dict):
            self._bad_frame("not_object", record.index)
            return
        self.recorder.exercise1("RWS-TRANS-6")
        etype = obj.get("type")
        # A type that is not a string (an array, an object) is an unknown type too.
        if not isinstance(etype, str) or etype not in self.rules.requests.client_events:
            self._bad_frame("unknown_type", record.index, deep=too_deep)
        elif etype == "response.create":
            self._create(obj, record.index, record.ts, deep=too_deep)
        else:
            self._steer(obj, record.index)

    def client_binary(self, record: Record) -> None:
        """A binary message from the client."""
        self._bad_frame("binary", record.index)

    def _bad_frame(
        self,
        kind: str,
        index: int,
        *,
        deep: bool = False,
        expected: str = "one JSON object per text message",
        actual: str | None = None,
    ) -> None:
        row = self.rules.requests.frames.get(kind)
        if row is not None:
            # A row without a code is answered by its close alone (closing.py).
            codes: tuple[str, ...] = (str(row["code"]),) if "code" in row else ()
            requirements = tuple(row.get("requirements", ()))
            if deep and self.rules.requests.deep is not None:
                # RWS-CREATE-21: or invalid_json, from a parser that stops at the depth.
                deep_row = self.rules.requests.deep
                codes = tuple(dict.fromkeys((*codes, str(deep_row["frame_code"]))))
                requirements = tuple(dict.fromkeys((*requirements, *deep_row["requirements"])))
            self.frames.append((codes, requirements, index, kind))
        for rule in self.rules.requests.client:
            if rule.get("check") == "frame" and rule.get("frame") == kind:
                requirements = tuple(rule.get("requirements", ()))
                self.recorder.exercise(requirements)
                self._fail(
                    requirements,
                    f"expected {expected} / actual {actual or kind.replace('_', ' ')}",
                    index,
                )

    def _create(
        self, body: dict[str, Any], index: int, sent_at: float | None, *, deep: bool = False
    ) -> None:
        rules = self.rules.requests
        raw_sid = body.get("stream_id")
        null_sid = "stream_id" in body and raw_sid is None
        named = isinstance(raw_sid, str) and rules.stream_id_pattern.fullmatch(raw_sid) is not None
        invalid = raw_sid is not None and not named
        lane_key = raw_sid if named else None
        lane = self._lane(lane_key)
        previous = body.get("previous_response_id")
        request = Request(
            index=index,
            body=body,
            lane=lane_key,
            named=named,
            invalid_stream_id=invalid,
            null_stream_id=null_sid,
            previous=previous if isinstance(previous, str) else None,
            store=body.get("store") is not False,
            generate=body.get("generate") is not False,
        )
        self._client_checks(body, request, lane, index)
        request.after_limit = self._after_limit(sent_at)
        request.expectation = self._expectation(body, request, lane, sent_at)
        if deep:
            request.expectation = self._deep_expectation(request.expectation)
        if named and request.expectation is None:
            self.named_lanes.add(str(raw_sid))
        if request.previous is not None and request.expectation is None:
            request.prediction = self._predict(request)
        if invalid:
            self.invalid_pending.append(request)
        else:
            lane.pending.append(request)

    def _client_checks(
        self, body: Mapping[str, Any], request: Request, lane: Lane, index: int
    ) -> None:
        config = self.checker.config
        for rule in self.rules.requests.client:
            check = rule.get("check")
            requirements = tuple(rule.get("requirements", ()))
            if check == "field_value":
                field = str(rule["field"])
                self.recorder.exercise(requirements)
                if field in body and _same(body[field], rule.get("value")):
                    self._fail(
                        requirements,
                        f"expected no {field}: {json.dumps(rule.get('value'))} in "
                        f"response.create / actual {field}: {short(body[field])}",
                        index,
                    )
            elif check == "field_type":
                field = str(rule["field"])
                self.recorder.exercise(requirements)
                if isinstance(body.get(field), dict):
                    self._fail(
                        requirements,
                        f"expected the request body flattened into response.create / "
                        f"actual it is wrapped in {field!r}",
                        index,
                    )
            elif check == "lane_busy":
                policy = config.parameters.get(str(rule.get("parameter")), "")
                if policy == rule.get("unless"):
                    continue
                self.recorder.exercise(requirements)
                if lane.busy_for_client():
                    self._fail(
                        requirements,
                        f"expected no second response.create on "
                        f"{lane_name(request.lane)} before its run ended (busy-lane={policy}) "
                        f"/ actual one sent while the lane is busy",
                        index,
                    )
            elif check == "retry_after_not_found" and request.previous is not None:
                self.recorder.exercise(requirements)
                if request.previous in self.not_found:
                    self._fail(
                        requirements,
                        f"expected the full context without previous_response_id after "
                        f"{rule.get('code')} / actual previous_response_id "
                        f"{short(request.previous)} sent again",
                        index,
                    )

    def _expectation(
        self, body: Mapping[str, Any], request: Request, lane: Lane, sent_at: float | None
    ) -> Expectation | None:
        rows = self.rules.requests.create
        for rule in rows:
            if not self._applies(rule, body, request, lane, sent_at):
                continue
            group = rule.get("group")
            # RWS-CREATE-17: every applicable row of the first one's group is a defect the
            # server may report; otherwise the first applicable row alone.
            chosen = (
                [
                    r
                    for r in rows
                    if r.get("group") == group and self._applies(r, body, request, lane, sent_at)
                ]
                if group is not None
                else [rule]
            )
            codes: list[str] = []
            requirements: list[str] = []
            params: list[tuple[str, str | None, tuple[str, ...]]] = []
            for row in chosen:
                row_requirements = tuple(row.get("requirements", ()))
                for code in row.get("codes") or [row.get("code")]:
                    codes.append(str(code))
                    params.append((str(code), row.get("param"), row_requirements))
                requirements.extend(row_requirements)
            return Expectation(
                codes=tuple(dict.fromkeys(codes)),
                requirements=tuple(dict.fromkeys(requirements)),
                reason=" and ".join(dict.fromkeys(str(r.get("check")) for r in chosen)),
                params=tuple(params),
                run_allowed=all(r.get("expect") == "error_or_run" for r in chosen),
                run_forbidden_by=tuple(
                    dict.fromkeys(
                        rid
                        for r in chosen
                        if r.get("expect") != "error_or_run"
                        for rid in r.get("requirements", ())
                    )
                ),
            )
        return None

    def _deep_expectation(self, expectation: Expectation | None) -> Expectation:
        """RWS-CREATE-21: a too-deep request may also be refused as what the server cannot read.

        Besides what its shallow reading predicts, a request-scoped error of the deep row's
        codes or the frame-scoped ``frame_code`` answers it; a run only when nothing else was
        predicted.
        """
        row = self.rules.requests.deep
        assert row is not None
        codes = (*row["codes"], str(row["frame_code"]))
        requirements = tuple(row["requirements"])
        if expectation is None:
            return Expectation(
                codes=tuple(codes),
                requirements=requirements,
                reason="nested deeper than the limit",
                run_allowed=True,
                frame_code=str(row["frame_code"]),
            )
        return Expectation(
            codes=tuple(dict.fromkeys((*expectation.codes, *codes))),
            requirements=tuple(dict.fromkeys((*expectation.requirements, *requirements))),
            reason=f"{expectation.reason} and nested deeper than the limit",
            params=expectation.params,
            run_allowed=expectation.run_allowed,
            run_forbidden_by=expectation.run_forbidden_by,
            frame_code=str(row["frame_code"]),
        )

    def _applies(
        self,
        rule: Mapping[str, Any],
        body: Mapping[str, Any],
        request: Request,
        lane: Lane,
        sent_at: float | None,
    ) -> bool:
        config = self.checker.config
        check = rule.get("check")
        applies = False
        if check == "stream_id_invalid":
            applies = request.invalid_stream_id
        elif check == "named_lane_limit" and request.named:
            limit = _int(config.parameters.get(str(rule.get("parameter"))))
            applies = (
                limit is not None
                and request.lane not in self.named_lanes
                and len(self.named_lanes) >= limit
            )
        elif check == "field_value":
            field = str(rule["field"])
            applies = field in body and _same(body[field], rule.get("value"))
        elif check == "lane_busy":
            policy = config.parameters.get(str(rule.get("parameter")), "")
            applies = policy == rule.get("policy") and lane.busy()
        elif check == "connection_age":
            age = as_float(config.parameters.get(str(rule.get("parameter"))))
            margin = as_float(rule.get("margin_seconds")) or 0.0
            applies = (
                age is not None
                and self.opened_at is not None
                and sent_at is not None
                and sent_at - self.opened_at > age + margin
            )
        elif check == "schema_invalid":
            applies = not self.checker.validator.is_valid(body, direction="client")
        return applies

    def _steer(self, body: Mapping[str, Any], index: int) -> None:
        # RWS-STEER-9: a client never sends stream_id in response.steer.
        self.recorder.exercise1("RWS-STEER-9")
        if "stream_id" in body:
            self._fail(
                ("RWS-STEER-9",),
                f"expected no stream_id in response.steer / actual {short(body['stream_id'])}",
                index,
            )
        self.steers.append((index, body.get("previous_response_id")))
        self.steer_inputs[index] = body.get("input")  # what an acceptance commits (STEER-4)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    return bool(a == b)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

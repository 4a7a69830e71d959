"""What the client sends: parsing each message, admitting requests, answering steers.

:class:`SessionRequests` is the session's front door. A text message is parsed; a frame it
cannot read gets a frame-scoped error and the connection lives on (RWS-CREATE-9/10/11). A
``response.create`` is admitted to a lane - or refused for the lane limit, a busy lane or a
connection past its age limit - and checked; its outcome, a run or an error, then waits for
its turn in the lane's queue (:mod:`reference_impl.session_lanes`). A ``response.steer`` goes
to the steering layer (:mod:`reference_impl.session_steering`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reference_impl import model
from reference_impl.errors import ProtocolError, RequestError
from reference_impl.fault_hooks import break_request
from reference_impl.lanes import Lane, LaneState, PendingRequest
from reference_impl.session_state import Refusal
from reference_impl.session_steering import SessionSteering
from reference_impl.validation import (
    DeepInputError,
    check_create,
    check_stream_id,
    read_message,
    shown,
)

__all__ = ["SessionRequests"]


class SessionRequests(SessionSteering):
    """The messages a client sends on one connection, and their admission."""

    # --- public methods for receiving data ---------------------------------------------------

    def receive_text(self, text: str, now: float) -> None:
        """Handle one text message from the client."""
        self._last_activity = now
        if self._closing:
            return
        # RWS-TRANS-7: every message up to max-message-size is accepted (the I/O layer closes
        # with 1009 above it); the shrunk-message-limit fault refuses the last tenth of it.
        if (
            self.faults.active("shrunk-message-limit")
            and len(text.encode()) > 0.9 * self.limits.max_message_size
        ):
            self._close(1009, "message too big")
            return
        try:
            event, bounded = read_message(text)
        except ProtocolError as exc:
            # RWS-CREATE-9, RWS-CREATE-11: frame-scoped errors keep the connection open.
            self._send_error(self._swap_frame_code(exc))
            if self.faults.active("close-on-error"):
                self._close(1008, "frame error")
            return
        try:
            if event["type"] == "response.steer":
                self._receive_steer(event)
            else:
                self._receive_create(event, now, bounded=bounded, size=_size(text))
        except DeepInputError:
            raise  # the crash-on-deep-input fault: deliberately unhandled
        except Exception:
            # RWS-LIMIT-6, RWS-ERR-5: a failure of ours is a server_error, with no details.
            stream_id = event.get("stream_id")
            self._reject_now(
                RequestError("server_error", "The server failed to process the request."),
                stream_id=stream_id if isinstance(stream_id, str) else None,
            )

    def _queued(self) -> int:
        """The valid requests waiting on the connection, not started yet (RWS-LANE-11)."""
        return sum(1 for lane in self._lanes.values() for r in lane.queue if r.create is not None)

    def _queued_bytes(self) -> int:
        """The total size of their messages (RWS-LANE-11): a request leaves its lane's queue
        when it starts, so its bytes are released then."""
        return sum(
            r.size for lane in self._lanes.values() for r in lane.queue if r.create is not None
        )

    def _would_wait(self, lane: Lane) -> bool:
        """Whether a request for ``lane`` would wait rather than start at once: behind the
        lane's queue or its run (RWS-LANE-1), or for a free slot (RWS-LANE-4)."""
        busy = lane.state is not LaneState.IDLE and not self._overlaps(lane)
        return bool(lane.queue) or busy or self._active >= self.limits.max_active_responses

    def _queue_refusal(self, lane: Lane, size: int) -> str | None:
        """Why a request of ``size`` bytes for ``lane`` may not wait: the message of its
        refusal, naming the bound and its value; None when it starts at once or fits both."""
        # RWS-LANE-11 bounds the requests *waiting*: one that starts at once is never refused
        # by it, whatever its size (the fuzzer's oracle reads the requirement the same way).
        if not self._would_wait(lane):
            return None
        limits = self.limits
        if self._queued() >= limits.max_queued_requests:
            return (
                "Too many requests are waiting on this connection "
                f"(max-queued-requests {limits.max_queued_requests})."
            )
        if self._queued_bytes() + size > limits.max_queued_bytes:
            return (
                "The requests waiting on this connection would exceed their total size "
                f"(max-queued-bytes {limits.max_queued_bytes})."
            )
        return None

    def _swap_frame_code(self, error: ProtocolError) -> ProtocolError:
        """The invalid-json-as-unknown-type and unknown-type-as-invalid-json faults."""
        swapped = {"invalid_json": "unknown_event_type", "unknown_event_type": "invalid_json"}
        fault = {
            "invalid_json": "invalid-json-as-unknown-type",
            "unknown_event_type": "unknown-type-as-invalid-json",
        }.get(error.code)
        if fault is not None and self.faults.active(fault):
            return ProtocolError(swapped[error.code], error.message)
        return error

    def receive_binary(self, data: bytes, now: float) -> None:
        """Handle one binary message from the client."""
        self._last_activity = now
        if self._closing:
            return
        if self.faults.active("binary-crash"):
            self._close(1011, "binary message")
            return
        if self.faults.active("binary-close-1003"):
            # Fault: the RFC 6455 close RWS-CREATE-10 permits, against RWS-CREATE-22.
            self._close(1003, "binary messages are not supported")
            return
        # RWS-CREATE-10: answer with unsupported_frame_type and keep the connection open.
        self._send_error(
            ProtocolError("unsupported_frame_type", "Binary messages are not supported.")
        )

    # --- private methods: requests -------------------------------------------------------

    def _receive_create(
        self, event: dict[str, Any], now: float, *, bounded: bool, size: int = 0
    ) -> None:
        # RWS-LIMIT-1: once aged, every response.create gets the connection-scoped error
        # (held until the runs in flight end, RWS-LIMIT-11).
        if self._aged:
            stream_id = event.get("stream_id")
            self._limit_errors_owed.append(stream_id if isinstance(stream_id, str) else None)
            self._close_if_aged_and_idle()
            return
        raw_stream_id = event.get("stream_id")
        serves_lanes = self.multiplex or self.faults.active("core-only-serves-lanes")
        if not serves_lanes and raw_stream_id is not None:
            # RWS-LANE-12: a server without the multiplex profile refuses a stream_id rather
            # than running the request on the default lane, and names the lane it refused.
            self._reject_now(
                RequestError(
                    "unsupported_parameter",
                    "stream_id is not supported: this server has no lanes (multiplex).",
                    param="stream_id",
                ),
                stream_id=raw_stream_id if isinstance(raw_stream_id, str) else None,
            )
            return
        try:
            lane_name = check_stream_id(event, lenient=self.faults.active("accept-bad-stream-id"))
        except RequestError as exc:
            self._reject_now(exc, stream_id=None)
            return
        if lane_name is not None and lane_name not in self._named_lanes:
            # RWS-LANE-5: a lane id stays counted until the connection closes; the default
            # lane does not count (the lane-limit-counts-default fault counts it while busy).
            counted = len(self._named_lanes)
            default = self._lanes[None]
            if self.faults.active("lane-limit-counts-default") and (
                default.state is not LaneState.IDLE or default.queue
            ):
                counted += 1
            if counted >= self.limits.max_named_lanes and not self.faults.active("lane-limit-off"):
                self._reject_now(
                    RequestError(
                        "websocket_stream_limit_reached",
                        f"Too many streams on this connection (limit "
                        f"{self.limits.max_named_lanes}).",
                        param="stream_id",
                    ),
                    stream_id=lane_name,
                )
                return
            self._named_lanes.add(lane_name)
            self._lanes[lane_name] = Lane(lane_name)
        lane = self._lanes[lane_name]

        # RWS-LANE-2: with busy-lane=reject, a request on a busy lane is refused...
        # The busy-lane-rejected fault refuses although the declared policy is queue.
        rejects = self.limits.busy_lane == "reject" or self.faults.active("busy-lane-rejected")
        if rejects and (lane.state is not LaneState.IDLE or lane.queue):
            previous = event.get("previous_response_id")
            refusal = Refusal(
                RequestError(
                    "response_already_in_flight",
                    "A response is already in flight on this lane.",
                ),
                previous if isinstance(previous, str) else None,
            )
            # RWS-LANE-9: ...but not before the outcome of the request that keeps the lane
            # busy has begun: that one may still wait for a slot, a storage lookup or its
            # task's first step.
            self._refusals.setdefault(lane_name, []).append(refusal)
            self._release_refusals()
            return

        previous = event.get("previous_response_id")
        request = PendingRequest(
            arrival=self._arrivals,
            lane=lane_name,
            create=None,
            rejection=None,
            previous_response_id=previous if isinstance(previous, str) else None,
            size=size,
        )
        self._arrivals += 1
        try:
            refused = break_request(event, self.faults) if self.faults else None
            if refused is not None:
                raise refused
            create = check_create(
                event,
                crash_on_deep_input=self.faults.active("crash-on-deep-input"),
                bounded=bounded,
                refusal_code="invalid_value"
                if self.faults.active("refuse-stream-false-invalid-value")
                else "unsupported_parameter",
            )
            # RWS-MODEL-1: this server serves the conformance model, and freeform-1 (a model
            # that behaves like a real one, for the suite's any-model paths).
            last = self._last_model
            if (
                create.model not in model.MODELS
                and last
                and self.faults.active("unknown-model-served")
            ):
                # Fault: RWS-CREATE-16, each request is served with the model it names.
                create = dataclasses.replace(create, model=last)
            if create.model not in model.MODELS:
                raise RequestError(
                    "model_not_found", f"The model '{shown(create.model)}' does not exist."
                )
            self._last_model = create.model
            request.create = create
        except RequestError as exc:
            if self.faults.active("schema-error-no-param") and exc.code != "model_not_found":
                exc.param = None  # Fault: RWS-CREATE-5, the error names the offending field.
            request.rejection = exc
        too_many = self._queue_refusal(lane, size) if request.create is not None else None
        if too_many is not None:
            # RWS-LANE-11: a bounded number of requests, of a bounded total size, wait on the
            # connection; one that would wait beyond either bound is refused at once (a
            # refusal to queue may precede the outcomes before it), its message is not kept,
            # and the error says which bound (the server's words only, no client input). Its
            # parent is evicted as by a busy-lane refusal (RWS-CACHE-13: either is permitted).
            if request.previous_response_id is not None and not self.faults.active("no-evict"):
                self.cache.evict(self._owner, lane_name, request.previous_response_id)
            self._reject_now(
                RequestError("rate_limit_exceeded", too_many),
                stream_id=lane_name,
            )
            return
        # RWS-LANE-1, RWS-LANE-9, RWS-CREATE-12: every request's outcome, error or run, takes
        # its turn in the lane's FIFO, so outcomes arrive in the order of the requests.
        lane.queue.append(request)
        self._pump(now)


def _size(text: str) -> int:
    """The size of a text message in bytes (UTF-8): its length when it is ASCII, which CPython
    knows without reading it, so only other texts are encoded again."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))

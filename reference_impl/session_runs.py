"""Runs: a response from its acceptance to its terminal event, and what it leaves behind.

:class:`SessionRuns` accepts a run the scheduler hands it (or rejects the request when the
model or the context size refuses it), sends ``response.created`` at once, and then, one
:meth:`~SessionRuns.step` at a time, sends the rest of the events the run task asks for. When
the terminal event goes out the run is committed: persisted first when stored (RWS-CACHE-11),
then cached as its lane's entry or its parent evicted, its lane freed and the next requests
moved. How the events are built and numbered is :mod:`reference_impl.run_events`.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reference_impl import model
from reference_impl.actions import Persist, RunDone, RunStep, SendText, StartRun, Wait
from reference_impl.cache import CacheEntry
from reference_impl.errors import RequestError
from reference_impl.lanes import Lane, LaneEvent
from reference_impl.run_events import Run, failed_run, plan, skeleton, stamp
from reference_impl.session_lanes import SessionLanes
from reference_impl.steering import required_input
from reference_impl.store import StoredResponse
from reference_impl.validation import CreateRequest

__all__ = ["STEP_CHARACTERS", "SessionRuns"]

#: What one step of a run sends at most, in characters of event text, before it hands control
#: back to the I/O layer (plus the event that crosses it): what a connection's outbound buffer
#: holds beyond its high-water mark is bounded by this per run.
STEP_CHARACTERS = 256 * 1024
#: The split-large-event fault splits run events longer than this (characters).
_SPLIT_ABOVE = 65536
#: The model-stops-early fault stops conformance-1 after this many output tokens.
_EARLY_STOP_TOKENS = 2


class SessionRuns(SessionLanes):
    """The runs of one connection: starting, stepping, committing and cancelling them."""

    # --- public methods for runs -----------------------------------------------------------

    def step(self, run_id: int, now: float) -> RunStep:
        """Advance run ``run_id``: send its due events and say what the task does next.

        One step sends at most about :data:`STEP_CHARACTERS` of events (and the one event
        that crosses it), then returns ``Wait(0)``: a run that is not paced hands control
        back to the I/O layer every so often, which writes what was sent and steps the run
        again only once the connection takes more (backpressure, RWS-LIMIT-13).
        """
        run = self._runs[run_id]
        if run.generated is None:
            self._generate(run)
        sent = 0
        while run.cursor < len(run.events):
            if sent >= STEP_CHARACTERS:
                return Wait(0.0)
            if run.steers and self._at_safe_point(run):
                self._stop_steered(run)
            wait, event = run.events[run.cursor]
            if wait > 0 and not run.waited:
                run.waited = True
                return Wait(wait)
            if run.cursor == run.terminal_at and not run.persisted:
                run.persisted = True
                record = self._record_to_persist(run)
                if record is not None:
                    return Persist(record, self.api_key)
            run.waited = False
            if event is not None:  # None: the terminal event the drop-terminal fault drops
                sent += self._send_event(run, event)
            if run.cursor == run.terminal_at:
                # The terminal event is queued before anything the commit sends.
                self._end_run(run, now)
            run.cursor += 1
        del self._runs[run_id]
        return RunDone()

    def persist_failed(self, run_id: int) -> None:
        """The I/O layer could not save the record a :class:`Persist` asked for.

        RWS-CACHE-11 lets no stored response send its terminal event before it is durable,
        so the run ends ``response.failed`` (``server_error``) in its place: what it sent
        stays, and nothing else on the connection changes (its lane, the other runs, the
        cache). The run task then goes on stepping it as usual.
        """
        run = self._runs.get(run_id)
        if run is None or run.ended or run.generated is None:
            return
        kept = run.terminal_at
        sent = [event for _, event in run.events[:kept] if event is not None]
        output = [e["item"] for e in sent if e["type"] == "response.output_item.done"]
        response = {
            **run.generated.response,
            "status": "failed",
            "output": output,
            "usage": model.usage(
                context=run.context,
                instructions=run.request.instructions,
                restored_items=run.restored_items,
                events=sent,
            ),
            "error": {"code": "server_error", "message": "The response could not be stored."},
            "incomplete_details": None,
            "completed_at": None,
        }
        terminal = {"type": "response.failed", "response": response}
        run.generated = model.GeneratedRun(
            (*sent, terminal), run.generated.delay_s, "failed", response, tuple(output)
        )
        run.events = [*run.events[:kept], (0.0, terminal)]
        run.persisted = True  # a failed run is not stored (RWS-CACHE-7): nothing to retry

    def held_records(self) -> list[Persist]:
        """Return and forget the stored responses the ``persist-on-close`` fault held back.

        The I/O layer saves them once the connection has closed; a correct session holds
        none (RWS-CACHE-11: it persists before the terminal event).
        """
        held, self._held = self._held, []
        return held

    def run_cancelled(self, run_id: int) -> str | None:
        """Forget a run whose task was cancelled (the connection closed, RWS-LIMIT-7).

        Returns the id of a response that was persisted but never sent its terminal event:
        the I/O layer deletes it from storage (RWS-LIMIT-10), else None.
        """
        run = self._runs.pop(run_id, None)
        if run is None or run.ended:
            return None
        if run.request.store and self.faults.active("keep-runs-after-close"):
            # Fault: RWS-LIMIT-10, a run cut short by the close is stored as if it had ended.
            if run.generated is None:
                self._generate(run)
            assert run.generated is not None
            record = StoredResponse(
                response_id=run.response_id,
                context=run.context,
                output=run.generated.output,
                response=run.generated.response,
            )
            self._held.append(Persist(record, self.api_key))
            return None
        return run.response_id if run.persisted else None

    # --- private methods: runs -------------------------------------------------------------

    @abc.abstractmethod
    def _check_context_size(self, input_tokens: int) -> None:
        """Refuse a context larger than the session allows (see session.MAX_CONTEXT_BYTES)."""

    def _running(self, response_id: str) -> Run | None:
        for run in self._runs.values():
            if run.response_id == response_id and not run.ended:
                return run
        return None

    @abc.abstractmethod
    def _after_run(self, run: Run, now: float) -> None:
        """What a run's end owes its accepted steering input (see session_steering)."""

    def _start_run(
        self,
        lane: Lane,
        create: CreateRequest,
        start: LaneEvent,
        *,
        context: Callable[[], Sequence[Mapping[str, Any]]],
        restored_items: int,
        parent_own_lane: bool,
        refused: Callable[[RequestError], None] | None = None,
    ) -> Run | None:
        """Accept the run and start it; a refusal or a failure of ours rejects the request.

        Accepting is cheap: the context (shared with the cache entry, not copied), the
        context size and the model's output limit. Then ``response.created`` is sent at once
        and the rest of the run is generated by its first :meth:`step`, so the I/O layer
        sends ``response.created`` while the rest is built. With a fault switch on, the run
        is generated here in full, as the faults that break the event list need it whole.
        Returns the run, or None when it was refused: then ``refused`` is called with the
        error (a steering successor has no request to answer), else the request is answered.
        """
        response_id = self._ids("resp")
        if self.faults.active("reuse-response-id"):
            # Fault: RWS-EVENT-7, every response has an id of its own.
            self._first_id = self._first_id or response_id
            response_id = self._first_id
        try:
            full_context = context()
            # The context size limit, from the context's byte count (A.2: 4 bytes a token).
            self._check_context_size(
                model.context_tokens(full_context)
                + (0 if create.instructions is None else model.tokens(create.instructions))
            )
            request_view = dict(create.event)
            # The generate-false-output fault generates anyway (RWS-CREATE-6 broken).
            request_view["generate"] = create.generate or self.faults.active(
                "generate-false-output"
            )
            if (
                self.faults.active("model-stops-early")
                and create.model == model.MODEL_ID
                and create.max_output_tokens is None
            ):
                # RWS-MODEL-1: conformance-1 plays its directives to the end; the fault stops
                # it after a few output tokens as if the request had asked for that budget.
                request_view["max_output_tokens"] = _EARLY_STOP_TOKENS
            try:
                prepared = model.MODELS[create.model](
                    response=skeleton(create, response_id, self._wall_clock),
                    context=full_context,
                    request=request_view,
                    restored_items=restored_items,
                    ids=self._ids,
                )
            except model.ModelLimitError as exc:
                # RWS-LIMIT-6, A.5: the model refuses, before generating anything, a run that
                # asks for more than it generates in one response; the request gets
                # invalid_value (param input) and the connection lives on.
                raise RequestError(
                    "invalid_value",
                    f"The conformance model generates at most {model.MAX_RUN_CHARACTERS} "
                    f"characters in {model.MAX_RUN_DELTAS} deltas per response.",
                    param="input",
                ) from exc
            generated = prepared.generate() if self.faults else None
            planned, terminal_at = (
                ([], 0) if generated is None else plan(generated, self.faults, self._ids, self.cost)
            )
        except Exception as exc:
            # RWS-LIMIT-6: whatever the input, the connection and its cache live on.
            if start is LaneEvent.LOADED_START:
                self._fire(lane, LaneEvent.LOADED_REJECT)
            previous = create.previous_response_id
            if parent_own_lane and previous is not None and not self.faults.active("no-evict"):
                # RWS-CACHE-5: a rejected continuation of the lane's own entry evicts it.
                self.cache.evict(self._owner, lane.name, previous)
            if not isinstance(exc, RequestError):
                exc = RequestError("server_error", "The server failed to start the response.")
            if refused is not None:
                refused(exc)
            else:
                self._reject_now(exc, stream_id=lane.name)
            return None
        self._fire(lane, start)
        self._active += 1
        run_id = self._next_run
        self._next_run += 1
        self._runs[run_id] = Run(
            run_id=run_id,
            lane=lane.name,
            request=create,
            response_id=response_id,
            context=full_context,
            generated=generated,
            prepared=prepared,
            events=planned,
            terminal_at=terminal_at,
            parent_own_lane=parent_own_lane,
            counter=1 if self.faults.active("sequence-start-1") else 0,
            restored_items=restored_items,
        )
        run = self._runs[run_id]
        if generated is None:
            # response.created goes out now, before the run task has generated anything.
            self._send_event(run, prepared.created)
            run.cursor = 1
        self._actions.append(StartRun(run_id))
        return run

    def _generate(self, run: Run) -> None:
        """Generate the rest of a run whose ``response.created`` was sent (see _start_run)."""
        try:
            generated = run.prepared.generate()
        except Exception:
            # RWS-LIMIT-6: a failure of ours after response.created ends the run failed.
            generated = failed_run(run.prepared.created)
        run.generated = generated
        run.events, run.terminal_at = plan(generated, self.faults, self._ids, self.cost)

    def _fail_now(self, run_id: int) -> None:
        """The lane-error-disturbs-others fault: cut a run short with response.failed.

        What was sent stays; the rest of the run is replaced by its terminal event, built
        like the model's own cut (rws:fail), so that the run still ends by the grammar.
        """
        run = self._runs[run_id]
        if run.generated is None:
            self._generate(run)
        assert run.generated is not None
        kept = max(run.cursor, 1)  # response.created at least, sent or about to be
        sent = [event for _, event in run.events[:kept] if event is not None]
        output = [e["item"] for e in sent if e["type"] == "response.output_item.done"]
        response = {
            **run.generated.response,
            "status": "failed",
            "output": output,
            "error": {"code": "server_error", "message": "Another lane's request failed."},
            "incomplete_details": None,
            "completed_at": None,
        }
        terminal = {"type": "response.failed", "response": response}
        run.generated = model.GeneratedRun(
            (*sent, terminal), 0.0, "failed", response, tuple(output)
        )
        run.events = [*run.events[:kept], (0.0, terminal)]
        run.terminal_at = kept

    def _at_safe_point(self, run: Run) -> bool:
        """Whether a steered run may stop before its next event (spec 9.3, A.6).

        Its safe points are between output items: before an item's output_item.added, as
        long as nothing it sent waits for client input (a tool call needs its output first).
        """
        if run.cursor >= run.terminal_at:
            return False
        event = run.events[run.cursor][1]
        if event is None or event.get("type") != "response.output_item.added":
            return False
        sent = [e["item"] for _, e in run.events[: run.cursor] if e is not None and "item" in e]
        return not required_input(sent)

    def _stop_steered(self, run: Run) -> None:
        """Stop a steered run at a safe point: it ends response.incomplete, reason steered.

        What was sent stays; the terminal response lists the items sent and the ``usage`` of
        what was sent (A.2), and the successor continues from it (RWS-STEER-4).
        """
        assert run.generated is not None  # generated by the first step
        kept = run.cursor
        sent = [event for _, event in run.events[:kept] if event is not None]
        output = [e["item"] for e in sent if e["type"] == "response.output_item.done"]
        response = {
            **run.generated.response,
            "status": "incomplete",
            "output": output,
            "usage": model.usage(
                context=run.context,
                instructions=run.request.instructions,
                restored_items=run.restored_items,
                events=sent,
            ),
            "error": None,
            "incomplete_details": {"reason": "steered"},
            "completed_at": None,
        }
        terminal = {"type": "response.incomplete", "response": response}
        run.generated = model.GeneratedRun(
            (*sent, terminal),
            run.generated.delay_s,
            "incomplete",
            {**response, "output": copy.deepcopy(output)},
            tuple(copy.deepcopy(item) for item in output),
        )
        run.events = [*run.events[:kept], (0.0, terminal)]
        run.terminal_at = kept

    def _send_event(self, run: Run, event: Mapping[str, Any]) -> int:
        """Send one event of ``run``; return the length of its text."""
        text = stamp(run, event, self.faults)
        # RWS-TRANS-5: one event, one text message, however large (the split-large-event
        # fault cuts a large one in two).
        if self.faults.active("split-large-event") and len(text) > _SPLIT_ABOVE:
            half = len(text) // 2
            self._actions.extend((SendText(text[:half]), SendText(text[half:])))
        else:
            self._actions.append(SendText(text))
        if run.lane in self._refusals:
            self._release_refusals()  # their turn may have come with this event
        return len(text)

    def _record_to_persist(self, run: Run) -> StoredResponse | None:
        # RWS-CACHE-11: a stored response is durable before its terminal event is sent. Only
        # continuable responses are stored; a failed one is not (RWS-CACHE-7).
        assert run.generated is not None  # generated by the first step
        if not run.request.store or run.generated.status == "failed":
            return None
        if self.faults.active("no-persist"):
            return None
        record = StoredResponse(
            response_id=run.response_id,
            context=run.context,
            output=run.generated.output,
            response=run.generated.response,
        )
        if self.faults.active("persist-on-close"):
            # The terminal event goes out now; the record is saved when the connection closes.
            self._held.append(Persist(record, self.api_key))
            return None
        return record

    def _end_run(self, run: Run, now: float) -> None:
        """Commit a run as its terminal event goes out: cache, lane, next requests."""
        run.ended = True
        self._last_activity = now
        assert run.generated is not None  # generated by the first step
        failed = run.generated.status == "failed"
        # The generate-false-not-cached fault forgets generate:false responses (RWS-CACHE-10).
        forgotten = not run.request.generate and self.faults.active("generate-false-not-cached")
        if (not failed or self.faults.active("cache-failed")) and not forgotten:
            # RWS-CACHE-1, RWS-CACHE-10: a completed or incomplete run (generate:false too)
            # becomes its lane's entry. RWS-CACHE-7: a failed one does not.
            self.cache.put(
                self._owner,
                CacheEntry(
                    response_id=run.response_id,
                    context=run.context,
                    output=run.generated.output,
                    store=run.request.store,
                    api_key=self.api_key,
                    lane=run.lane,
                    instructions=run.request.instructions,
                ),
            )
        elif run.parent_own_lane and not self.faults.active("no-evict"):
            # RWS-CACHE-5: a failed continuation of its own lane's entry evicts it.
            assert run.request.previous_response_id is not None
            self.cache.evict(self._owner, run.lane, run.request.previous_response_id)
        lane = self._lanes[run.lane]
        if not self._overlaps(lane):
            lane.fire(LaneEvent.END)
        self._active -= 1
        # RWS-STEER-4: a successor goes before the requests queued on the lane.
        self._after_run(run, now)
        self._pump(now)
        self._close_if_aged_and_idle()

"""Deliberately broken clients: the raw adapter with one client requirement broken at a time.

Run as ``python -m tests.clientsuite.broken_clients.broken`` with the adapter contract's
environment plus ``RWS_BROKEN=<mode>``; :data:`MODES` lists the modes and what each breaks.
``tests/clientsuite/test_broken_clients.py`` runs each against the scenario that must catch
it, to prove that every client check can fail.

``RWS_WARM_UP=1`` adds Codex CLI's way of opening a connection, with or without a mode
(``RWS_BROKEN`` empty: a conforming client): the client's context starts with a developer
message (its system prompt); every new connection opens with a ``generate: false`` warm-up
carrying that message, and the first request after it that would send the full context
continues from the warm-up instead (``previous_response_id``, the context without the
developer message). Judged by effective context, such a client is judged like one without
warm-ups.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol
from websockets.sync.client import ClientConnection, connect

from conformance.adapters import raw_websockets as raw
from conformance.adapters._contract import RECONNECT_CODES, Task, print_result, read_task

__all__ = ["MODES", "Broken", "main"]

MODES: dict[str, str] = {
    "stale-previous-id": "resends the same previous_response_id after previous_response_not_found",
    "drop-history": "retries after previous_response_not_found with only the new input",
    "crash-on-unknown": "fails on an event type it does not know",
    "crash-on-untyped-error": "fails on an error event without error.type",
    "ignore-request-errors": "waits for response.created after a request-scoped error",
    "reconnect-always": "reconnects after any close code, 1008 included",
    "never-reconnect": "gives up when the server closes with 1001",
    "stale-id-new-connection": "continues a store=false chain on a new connection by id",
    "no-backoff": "reconnects at once, every time",
    "background": "sends background: true",
    "stream": "sends stream: true",
    "null-stream-id": 'sends "stream_id": null',
    "wrapped": "wraps the request body in a response object",
    "binary-frame": "sends response.create as a binary message",
    "second-create": "sends every request twice, the second while the lane is busy",
    "full-resend": "never uses previous_response_id on the same connection",
    "prev-and-full": "sends previous_response_id and the whole context again",
    "wait-for-completed": "waits for response.completed after an in-run error",
    "no-pong": "never answers a ping",
    "small-max-size": "accepts messages up to 1 MiB only",
    "assemble-from-added": "takes its output from response.output_item.added",
    "misroute": "routes events to the lane of the latest response.created, not by stream_id",
    "early-tool-output": "sends the tool output as soon as the function_call item is done, "
    "before the run has ended",
    "token-scheme": "carries its key as `Authorization: Token <key>`",
    "key-in-query": "carries its key in the URL's query (api_key), with no Authorization header",
    "steer-stream-id": 'sends "stream_id": null in response.steer',
    "resend-accepted-steer": "sends accepted steering input again in its next response.create",
    "steer-twice": "sends the same response.steer again as soon as the first is accepted",
}
MODE = os.environ.get("RWS_BROKEN", "")
WARM_UP = os.environ.get("RWS_WARM_UP") == "1"
# The warm-up client's system prompt: the first item of its context.
SYSTEM = {"type": "message", "role": "developer", "content": "You are a test client."}
# A broken client that waits for what never comes gives up quickly.
SHORT_WAIT = 2.0

if MODE == "no-pong":
    _send_frame = Protocol.send_frame

    def _no_pong(self: Protocol, frame: Frame) -> None:
        if frame.opcode is not Opcode.PONG:
            _send_frame(self, frame)

    Protocol.send_frame = _no_pong  # type: ignore[method-assign]


class Broken(raw.Client):
    """The raw adapter's client with :data:`MODE` (and :data:`WARM_UP`) applied."""

    warm_id: str | None = None  # the warm-up of the open connection, not continued yet
    warmed: ClientConnection | None = None  # the connection the warm-up was sent on

    def connection(self) -> ClientConnection:
        if self.ws is not None:
            return self.ws
        ws = self._open()
        if WARM_UP and self.warmed is not ws:
            self.warmed, self.warm_id = ws, None
            self._warm_up(ws)
        return ws

    def _warm_up(self, ws: ClientConnection) -> None:
        body: dict[str, Any] = {
            "type": "response.create",
            "model": self.task.model,
            "generate": False,
            "input": [SYSTEM],
            "store": self.task.store,
        }
        if self.tools:
            body["tools"] = self.tools
        ws.send(json.dumps(body))
        while True:
            event = json.loads(ws.recv(timeout=raw.RECV_TIMEOUT))
            if event.get("type") == "response.completed":
                self.warm_id = event["response"]["id"]
                return
            if event.get("type") in ("error", "response.failed"):
                raise raw.Fatal(f"warm-up failed: {event}")

    def lost(self, exc: ConnectionClosed) -> None:
        self.warm_id = None
        super().lost(exc)

    def _open(self) -> ClientConnection:
        if MODE == "never-reconnect" and self.close_code is not None:
            raise raw.Fatal("not reconnecting")
        if MODE == "reconnect-always" and self.close_code is not None:
            self.close_code = 1001
        if MODE == "no-backoff":
            self.failures = 0
        if MODE == "small-max-size":
            self.ws = connect(
                self.task.url,
                additional_headers={"Authorization": f"Bearer {self.task.api_key}"},
                max_size=1024 * 1024,
            )
            return self.ws
        if MODE in ("token-scheme", "key-in-query"):
            url, headers = self.task.url, {"Authorization": f"Token {self.task.api_key}"}
            if MODE == "key-in-query":
                url, headers = f"{url}?api_key={quote(self.task.api_key)}", {}
            try:
                self.ws = connect(url, additional_headers=headers, max_size=raw.MAX_MESSAGE)
            except InvalidStatus as exc:
                raise raw.Fatal(f"upgrade refused: {exc.response.status_code}") from exc
            return self.ws
        return super().connection()

    def send(self, event: dict[str, Any]) -> ClientConnection:
        event = dict(event)
        ws = self.connection()
        if WARM_UP and "previous_response_id" not in event and "stream_id" not in event:
            # The full context is the system prompt and the conversation; the first one
            # after the warm-up continues from it, which holds the system prompt.
            if self.warm_id is not None:
                event["previous_response_id"], self.warm_id = self.warm_id, None
            else:
                event["input"] = [SYSTEM, *event["input"]]
        if MODE == "background":
            event["background"] = True
        elif MODE == "stream":
            event["stream"] = True
        elif MODE == "null-stream-id":
            event["stream_id"] = None
        elif MODE == "wrapped":
            event = {
                "type": "response.create",
                "response": {k: v for k, v in event.items() if k != "type"},
            }
        if MODE == "binary-frame":
            ws.send(json.dumps(event).encode())
        else:
            ws.send(json.dumps(event))
        if MODE == "second-create":
            ws.send(json.dumps(event))
        return ws

    def steer_event(self, steer: raw.Steer) -> dict[str, Any]:
        event = super().steer_event(steer)
        if MODE == "steer-stream-id":
            # Addresses the steer to the target's lane, as it does its requests: null for
            # the default lane.
            event["stream_id"] = None
        return event

    def steer_accepted(self, ws: ClientConnection, steer: raw.Steer) -> None:
        if MODE == "steer-twice":
            # Takes the acknowledgement for a prompt to send the input once more.
            ws.send(json.dumps(self.steer_event(steer)))

    def carried(self, steer: raw.Steer) -> list[dict[str, Any]]:
        if MODE == "resend-accepted-steer" and steer.state != "sent":
            # Treats the steering input as not delivered until it sees it in a request of
            # its own, whatever the server did with it.
            return steer.items
        return super().carried(steer)

    def turn(
        self,
        prev: str | None,
        new: list[dict[str, Any]],
        context: list[dict[str, Any]],
        steer: raw.Steer | None = None,
    ) -> dict[str, Any]:
        if MODE == "full-resend":
            prev = None
        retries = 0
        full = False
        keep_id = False
        while True:
            body: dict[str, Any] = {"type": "response.create", "model": self.task.model}
            if prev is not None and (not full or keep_id):
                body["previous_response_id"] = prev
                body["input"] = context + new if MODE == "prev-and-full" else new
            elif MODE == "drop-history":
                body["input"] = new
            else:
                body["input"] = context + new
            body["store"] = self.task.store
            if self.tools:
                body["tools"] = self.tools
            try:
                return self._exchange(body, steer)
            except ConnectionClosed as exc:
                if MODE == "small-max-size":
                    raise raw.Fatal("message too big") from exc
                had = self.ws is not None
                self.lost(exc)
                if MODE != "reconnect-always" and (
                    not had or self.close_code not in RECONNECT_CODES
                ):
                    raise raw.Fatal(f"closed with {self.close_code}") from exc
                full = not self.task.store
                keep_id = MODE == "stale-id-new-connection"
            except raw.Retry as exc:
                retries += 1
                if retries > raw.MAX_RETRIES:
                    raise raw.Fatal(str(exc)) from exc
                full = True
                # The broken retries: the same id again, or the id once more on a new
                # connection (then recovering like a good client).
                keep_id = MODE == "stale-previous-id" or (
                    MODE == "stale-id-new-connection" and "limit" in str(exc)
                )

    def _exchange(self, body: dict[str, Any], steer: raw.Steer | None = None) -> dict[str, Any]:
        if MODE not in (
            "crash-on-unknown",
            "crash-on-untyped-error",
            "ignore-request-errors",
            "wait-for-completed",
            "assemble-from-added",
            "early-tool-output",
        ):
            return super()._exchange(body, steer)
        ws = self.send(body)
        added: list[dict[str, Any]] = []
        current: str | None = None
        while True:
            event = json.loads(ws.recv(timeout=SHORT_WAIT))
            etype = event.get("type")
            if MODE == "early-tool-output":
                if etype == "response.created":
                    current = event["response"]["id"]
                    continue
                item = event.get("item") or {}
                if etype == "response.output_item.done" and item.get("type") == "function_call":
                    # The call is all it needs: on with the tool output, the run still open.
                    return {"id": current, "output": [item]}
                if etype in ("response.completed", "response.failed") and (
                    event["response"]["id"] != current
                ):
                    continue  # the end of the run it did not wait for
            if MODE == "crash-on-unknown" and not (
                etype == "error" or str(etype).startswith("response.")
            ):
                raise raw.Fatal(f"unknown event type {etype}")
            if MODE == "crash-on-unknown" and etype == "response.future_event_type":
                raise raw.Fatal(f"unknown event type {etype}")
            if etype == "response.output_item.added":
                added.append(event["item"])
            if etype == "response.completed":
                response: dict[str, Any] = event["response"]
                if MODE == "assemble-from-added":
                    response = {**response, "output": added}
                return response
            if etype == "response.failed" and MODE != "wait-for-completed":
                raise raw.Retry("failed")
            if etype == "error":
                if MODE == "crash-on-untyped-error":
                    kind = event["error"]["type"]  # KeyError when the type is missing
                    raise raw.Retry(str(kind))
                if MODE == "ignore-request-errors" and "sequence_number" not in event:
                    continue
                if MODE == "wait-for-completed" and "sequence_number" in event:
                    continue
                raise raw.Retry(str(event.get("error", {}).get("code")))


def _misrouted_lanes(task: Task) -> list[str]:
    client = Broken(task)
    ws = client.connection()
    for lane, prompt in zip(task.lanes, task.prompts, strict=True):
        ws.send(
            json.dumps(
                {
                    "type": "response.create",
                    "model": task.model,
                    "stream_id": lane,
                    "input": prompt,
                    "store": task.store,
                }
            )
        )
    texts = dict.fromkeys(task.lanes, "")
    created = done = 0
    while done < len(task.lanes):
        event = json.loads(ws.recv(timeout=SHORT_WAIT))
        if event.get("type") == "response.created":
            created += 1
        elif event.get("type") == "response.output_text.delta":
            texts[task.lanes[min(created, len(task.lanes)) - 1]] += event["delta"]
        elif event.get("type") == "response.completed":
            done += 1
    ws.close()
    return [texts[lane] for lane in task.lanes]


def main() -> int:
    """Run the task with the broken behaviour."""
    if MODE not in MODES and not (WARM_UP and not MODE):
        print(f"unknown RWS_BROKEN mode {MODE!r}", file=sys.stderr)
        return 2
    raw.Client = Broken  # type: ignore[misc]
    raw.RECV_TIMEOUT = SHORT_WAIT
    task = read_task()
    try:
        if task.task == "lanes" and MODE == "misroute":
            texts = _misrouted_lanes(task)
            print_result(texts, lanes=True)
            return 0
    except (raw.Fatal, ConnectionClosed, TimeoutError) as exc:
        print(f"broken: {exc}", file=sys.stderr)
        return 1
    return raw.main()


if __name__ == "__main__":
    sys.exit(main())

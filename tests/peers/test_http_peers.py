"""The ``openai`` SDK over HTTP, and a client that falls back to it, against the server.

Spec section 13: the server answers ``POST /v1/responses`` and ``GET /v1/responses/{id}`` on
the base URL of its WebSocket endpoint, as the SDK's HTTP client expects, and a conversation
moves from the WebSocket to HTTP by ``previous_response_id`` when its response was stored.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.peers.conftest import PeerServer, _reference_server, run_script

__all__: list[str] = []

pytestmark = pytest.mark.peers

RunPeer = Callable[..., dict[str, Any]]
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


@pytest.fixture(scope="module")
def refusing_server(
    peers_python: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PeerServer]:
    """A reference server that refuses this SDK's upgrade (it asks for an OpenAI-Beta header
    the SDK does not send), so that a client has to fall back to HTTP."""
    if os.environ.get("RWS_PEERS_SERVER_URL"):
        pytest.skip("the fallback test needs a reference server it can configure")
    data = tmp_path_factory.mktemp("refusing-server-data")
    with _reference_server(data, "--fault", "require-beta-header") as server:
        yield server


def test_the_sdk_http_client_streams_retrieves_and_continues(run_peer: RunPeer) -> None:
    report = run_peer("sdk_http")
    streamed = report["streamed"]
    # RWS-HTTP-3: the SDK parsed every server-sent event into its typed events, in order.
    assert streamed["types"][0] == "response.created"
    assert streamed["types"][-1] == "response.completed"
    assert streamed["sequence_numbers"] == list(range(len(streamed["types"])))
    assert "ResponseTextDeltaEvent" in streamed["sdk_classes"]
    assert streamed["output_text"]
    # RWS-HTTP-9, RWS-HTTP-10: the response object, and the same one retrieved.
    plain = report["plain"]
    assert (plain["class"], plain["status"]) == ("Response", "completed")
    assert report["retrieved"] == {"id": plain["id"], "output_text": plain["output_text"]}
    # RWS-HTTP-2: a stored response is continued over HTTP (from storage)...
    assert report["continued"]["status"] == "completed"
    # ...a store:false one is not found, nor is it retrievable; a request error is the SDK's.
    assert report["unstored_continued"] == {
        "class": "BadRequestError",
        "status": 400,
        "code": "previous_response_not_found",
        "param": "previous_response_id",
    }
    assert report["unstored_retrieved"]["status"] == 404
    assert report["invalid"]["class"] == "BadRequestError"
    assert report["invalid"]["param"] == "top_p"


def test_a_refused_upgrade_falls_back_to_http(
    peers_python: str, refusing_server: PeerServer
) -> None:
    run = functools.partial(run_script, peers_python, refusing_server)
    report = run("sdk_fallback", "refused")
    assert report["attempts"] == 3
    assert set(report["transports"]) == {"http"}
    # The whole tool loop ran over HTTP, chained by previous_response_id (stored responses).
    assert report["calls"] == 3
    assert report["turns"][-1]["text"] == "loop done after 3 calls"
    assert all(turn["types"][-1] in TERMINAL for turn in report["turns"])


def test_a_lost_websocket_goes_on_over_http_with_the_stored_response(run_peer: RunPeer) -> None:
    report = run_peer("sdk_fallback", "dropped")
    assert report["transports"][0] == "websocket"
    assert set(report["transports"][1:]) == {"http"}
    # The WebSocket's response was continued over HTTP: no turn was refused.
    assert all("error" not in turn for turn in report["turns"])
    assert report["turns"][-1]["text"] == "loop done after 3 calls"


def test_a_lost_websocket_with_store_false_resends_the_context_over_http(
    run_peer: RunPeer,
) -> None:
    report = run_peer("sdk_fallback", "dropped-unstored")
    refused = [turn for turn in report["turns"] if "error" in turn]
    # RWS-HTTP-2: over HTTP a store:false response is never continued...
    assert refused
    assert all(turn["error"]["code"] == "previous_response_not_found" for turn in refused)
    # ...so the client resends its context (RWS-CLIENT-2) and the loop still finishes.
    assert report["turns"][-1]["text"] == "loop done after 3 calls"
    assert report["calls"] == 3

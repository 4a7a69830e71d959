"""Peer script: an ``openai-agents`` agent with a function tool, run over WebSocket mode.

The agent's model is ``conformance-1``; the user input carries
``rws:call name=get_weather arguments={"city":...}``, so the model calls the tool once, the
Agents SDK runs it and sends its output back, and the model then answers
``received 1 tool outputs`` (``rws:call`` is skipped once a tool output follows the user message).

Three runs cover the SDK's ways into WebSocket mode:

- ``session``: ``responses_websocket_session()`` (the SDK's helper) and ``session.run``; the SDK
  replays the whole conversation as ``input`` on the second model call.
- ``chained``: the same session with ``auto_previous_response_id=True``; the second model call
  sends ``previous_response_id`` and only the tool output, served from the connection cache.
- ``env``: a plain ``Runner.run`` whose ``OpenAIProvider`` is told to use the WebSocket
  transport, with the endpoint taken from ``OPENAI_WEBSOCKET_BASE_URL``.

Between the ``chained`` and ``env`` runs, ``unknown_previous`` continues from an id the server
never issued (``previous_response_not_found``) and then runs once more in the same session.

``_common.tap_wire`` records what went over the wire, so the test can check the requests the
Agents SDK built.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

# Tracing would try to export spans to the vendor's servers; a peer test talks to nothing else.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

from agents import (  # type: ignore[import-not-found]
    Agent,
    OpenAIProvider,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.responses_websocket_session import (  # type: ignore[import-not-found]
    responses_websocket_session,
)

from tests.peers.scripts._common import dump, env, tap_wire

__all__ = ["main"]

_TOOL_CALLS: list[dict[str, Any]] = []


@function_tool  # type: ignore[untyped-decorator]
def get_weather(city: str) -> str:
    """Return the weather for a city.

    Args:
        city: The city to report on.
    """
    _TOOL_CALLS.append({"city": city})
    return f"sunny in {city}"


def _agent(model: str) -> Any:
    return Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        model=model,
        tools=[get_weather],
    )


def _run_report(result: Any, wire: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "final_output": result.final_output,
        "new_item_types": [item.type for item in result.new_items],
        "responses": [
            {
                "response_id": response.response_id,
                "output_types": [item.type for item in response.output],
                "input_tokens": response.usage.input_tokens,
                "cached_tokens": response.usage.input_tokens_details.cached_tokens,
                "output_tokens": response.usage.output_tokens,
            }
            for response in result.raw_responses
        ],
        "wire": wire,
    }


def _prompt(city: str) -> str:
    return f"What is the weather in {city}?\nrws:call name=get_weather arguments=" + json.dumps(
        {"city": city}, separators=(",", ":")
    )


def _error_chain(exc: BaseException) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 5:
        chain.append(
            {
                "class": type(current).__name__,
                "code": getattr(current, "code", None),
                "payload": getattr(current, "payload", None),
            }
        )
        current = current.__cause__ or current.__context__
    return chain


async def _unknown_previous(session: Any, model: str, wire: list[dict[str, Any]]) -> dict[str, Any]:
    """Continue from an id the server never issued, then run once more in the same session.

    Observes how the Agents SDK surfaces a request-scoped ``error`` event
    (``previous_response_not_found``) and whether it keeps or replaces the connection.
    """
    start = len(wire)
    outcome: dict[str, Any] = {}
    try:
        await session.run(
            _agent(model), "hello", previous_response_id="resp_never_issued_by_server"
        )
        outcome["raised"] = None
    except Exception as exc:
        outcome["raised"] = _error_chain(exc)
    outcome["wire"] = wire[start:]
    start = len(wire)
    after = await session.run(_agent(model), "hello again", max_turns=2)
    outcome["after_final_output"] = after.final_output
    outcome["after_wire"] = wire[start:]
    return outcome


async def _main() -> dict[str, Any]:
    e = env()
    set_tracing_disabled(True)
    wire = tap_wire()
    report: dict[str, Any] = {"prompts": {}}
    async with responses_websocket_session(api_key=e.api_key, base_url=e.base_url) as session:
        for name, city, chained in (("session", "Paris", False), ("chained", "Oslo", True)):
            start, calls_before = len(wire), len(_TOOL_CALLS)
            prompt = _prompt(city)
            report["prompts"][name] = prompt
            result = await session.run(
                _agent(e.model), prompt, auto_previous_response_id=chained, max_turns=4
            )
            report[name] = _run_report(result, wire[start:])
            report[name]["tool_calls"] = _TOOL_CALLS[calls_before:]
        report["unknown_previous"] = await _unknown_previous(session, e.model, wire)

    # The environment route: OPENAI_WEBSOCKET_BASE_URL names the WebSocket endpoint's base.
    ws_base = "ws" + e.base_url.removeprefix("http")
    os.environ["OPENAI_WEBSOCKET_BASE_URL"] = ws_base
    provider = OpenAIProvider(api_key=e.api_key, use_responses_websocket=True)
    start, calls_before = len(wire), len(_TOOL_CALLS)
    prompt = _prompt("Lima")
    report["prompts"]["env"] = prompt
    result = await Runner.run(
        _agent(e.model), prompt, run_config=RunConfig(model_provider=provider), max_turns=4
    )
    report["env"] = _run_report(result, wire[start:])
    report["env"]["tool_calls"] = _TOOL_CALLS[calls_before:]
    report["env"]["websocket_base_url"] = ws_base
    await provider.aclose()
    return report


def main() -> None:
    """Run the three agent runs and print what was seen."""
    dump(asyncio.run(_main()))


if __name__ == "__main__":
    main()

"""Client adapter: ``openai-agents`` - a Runner with a function tool over WebSocket mode.

Runs with the peers interpreter. The agent has the contract's ``lookup`` function tool; every
prompt is one ``Runner`` run through the SDK's ``responses_websocket_session()`` helper with
``auto_previous_response_id=True``, the SDK's way of chaining turns with
``previous_response_id`` and only new input over one warm WebSocket; the next prompt continues
from ``result.last_response_id``. Tool execution, the turn loop, connection handling,
reconnection and event parsing are the SDK's. The application adds only what the SDK leaves
to it: when a run raises (an ``error`` event, a closed connection), it runs the prompt again
once from the full conversation (``to_input_list()``) without ``previous_response_id``, which
is what RWS-CLIENT-2 and RWS-CLIENT-5 ask. The ``lanes`` task is not supported (the Agents SDK
does not multiplex runs over named lanes); the adapter declares only the core profile.

Run: ``python -m conformance.adapters.openai_agents`` from the repository root.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

# Tracing would try to export spans to a vendor's servers; the suite talks to nothing else.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

from agents import (  # type: ignore[import-not-found]
    Agent,
    ModelSettings,
    function_tool,
    set_tracing_disabled,
)
from agents.responses_websocket_session import (  # type: ignore[import-not-found]
    responses_websocket_session,
)

from conformance.adapters._contract import (
    EXIT_FAILED,
    EXIT_UNSUPPORTED,
    RECONNECT_CODES,
    Task,
    http_base_url,
    print_result,
    read_task,
)

__all__ = ["main"]

MAX_TURNS = 8
MAX_RETRIES = 4
BACKOFF_START = 0.5


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < 8:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _retry_wait(exc: BaseException, attempt: int) -> float | None:
    """How long to wait before running the prompt again, or None to give up.

    An ``error`` event (the SDK raises ``ResponsesWebSocketError``) is a request outcome:
    retry at once. A closed connection is retried only after the close codes RWS-ERR-7 names,
    with exponential backoff; never after 1008 (RWS-ERR-9) or other codes.
    """
    for link in _chain(exc):
        name = type(link).__name__
        if name == "ResponsesWebSocketError":
            return 0.0
        rcvd = getattr(link, "rcvd", None)
        if name.startswith("ConnectionClosed"):
            code = rcvd.code if rcvd is not None else 1006
            if code not in RECONNECT_CODES:
                return None
            return float(BACKOFF_START * 2 ** (attempt - 1))
    if "closed" in str(exc):
        # The SDK hides the close code of a connection closed before any event: abnormal.
        return float(BACKOFF_START * 2 ** (attempt - 1))
    return None


@function_tool  # type: ignore[untyped-decorator]
def lookup(q: str) -> str:
    """Look a query up.

    Args:
        q: The query.
    """
    return f"result:{q}"


def _agent(task: Task) -> Any:
    return Agent(
        name="client-suite",
        instructions="Use the lookup tool when asked.",
        model=task.model,
        tools=[lookup],
        model_settings=ModelSettings(store=task.store),
    )


async def _conversation(task: Task) -> list[str]:
    set_tracing_disabled(True)
    agent = _agent(task)
    history: list[Any] = list(task.history)
    prev = task.previous_response_id
    text = ""
    async with responses_websocket_session(
        api_key=task.api_key, base_url=http_base_url(task.url)
    ) as session:
        for prompt in task.prompts:
            user = {"role": "user", "content": prompt}
            attempt = 0
            while True:
                try:
                    if prev is not None:
                        result = await session.run(
                            agent,
                            [user],
                            previous_response_id=prev,
                            auto_previous_response_id=True,
                            max_turns=MAX_TURNS,
                        )
                    else:
                        result = await session.run(
                            agent,
                            [*history, user],
                            auto_previous_response_id=True,
                            max_turns=MAX_TURNS,
                        )
                    break
                except Exception as exc:
                    attempt += 1
                    wait = _retry_wait(exc, attempt)
                    if wait is None or attempt > MAX_RETRIES:
                        raise
                    print(f"openai-agents: retry {attempt} after {_describe(exc)}", file=sys.stderr)
                    await asyncio.sleep(wait)
                    # The application's recovery: the whole conversation, no previous id.
                    prev = None
            # to_input_list(): the run's input followed by its new items, ready to resend.
            history = (
                list(result.to_input_list())
                if prev is None
                else [*history, user, *[item.to_input_item() for item in result.new_items]]
            )
            prev = result.last_response_id
            text = str(result.final_output)
    return [text]


def main() -> int:
    """Run the scenario's task; print the result; return the exit status."""
    task = read_task()
    if task.task != "conversation":
        print(f"unsupported task {task.task}: the Agents SDK has no lanes", file=sys.stderr)
        return EXIT_UNSUPPORTED
    try:
        texts = asyncio.run(_conversation(task))
    except Exception as exc:
        print(f"openai-agents: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_result(texts, lanes=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

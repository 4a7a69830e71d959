"""Peer script: the ``openai`` SDK's HTTP client against the server (spec section 13).

``client.responses.create(stream=True)`` reads the server-sent events, without ``stream`` the
SDK gets the response object; ``client.responses.retrieve`` gets a stored response; a stored
response is continued with ``previous_response_id`` over HTTP, a ``store: false`` one is not
found; a request error is the SDK's ``BadRequestError``.
"""

from __future__ import annotations

from typing import Any

import openai  # type: ignore[import-not-found]

from tests.peers.scripts._common import client, dump, env

__all__ = ["main"]

INPUT = "rws:text length=40 chunks=4"


def _stream(sdk: Any, model: str, **create: Any) -> dict[str, Any]:
    """One streamed request: the SDK's typed events and the final response."""
    events = list(sdk.responses.create(model=model, stream=True, **create))
    last = events[-1]
    return {
        "types": [event.type for event in events],
        "sequence_numbers": [event.sequence_number for event in events],
        "sdk_classes": sorted({type(event).__name__ for event in events}),
        "id": last.response.id,
        "status": last.response.status,
        "output_text": last.response.output_text,
    }


def _error(call: Any) -> dict[str, Any] | None:
    try:
        call()
    except openai.APIStatusError as exc:
        return {
            "class": type(exc).__name__,
            "status": exc.status_code,
            "code": exc.code,
            "param": exc.param,
        }
    return None


def main() -> None:
    """Run every step and print what the SDK saw."""
    e = env()
    sdk = client(e)
    report: dict[str, Any] = {}
    report["streamed"] = _stream(sdk, e.model, input=INPUT)
    plain = sdk.responses.create(model=e.model, input=INPUT)
    report["plain"] = {
        "class": type(plain).__name__,
        "id": plain.id,
        "status": plain.status,
        "output_text": plain.output_text,
    }
    retrieved = sdk.responses.retrieve(plain.id)
    report["retrieved"] = {"id": retrieved.id, "output_text": retrieved.output_text}
    report["continued"] = _stream(
        sdk, e.model, input="and then\nrws:context", previous_response_id=plain.id
    )
    unstored = sdk.responses.create(model=e.model, input=INPUT, store=False)
    report["unstored_continued"] = _error(
        lambda: sdk.responses.create(model=e.model, input="more", previous_response_id=unstored.id)
    )
    report["unstored_retrieved"] = _error(lambda: sdk.responses.retrieve(unstored.id))
    report["invalid"] = _error(
        lambda: list(sdk.responses.create(model=e.model, input=INPUT, top_p=7, stream=True))
    )
    dump(report)


if __name__ == "__main__":
    main()

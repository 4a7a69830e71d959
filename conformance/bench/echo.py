"""The floor: a raw ``websockets`` echo server, ``python -m conformance.bench.echo --io trio``.

It answers every message with the same message and does nothing else, on the same library,
settings and loopback as the reference server, so the round trip a client measures against it
is what one message exchange costs before any protocol work. ``--io`` picks the asyncio or the
trio implementation of ``websockets`` (the two I/O layers of the reference server). Like the
reference server it prints ``listening on ws://HOST:PORT/...`` once it accepts connections.

One message is not echoed: ``stream COUNT PAUSE_MS SIZE`` asks for a paced stream, COUNT
messages of SIZE bytes, the first at once and each of the others one pause after the one
before, as a paced run of the reference server sends its events (one timer wake-up and one
send per message). It is the floor of the paced-sessions figure: what the library costs per
paced message with nothing else to do, for each I/O layer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

__all__ = ["STREAM", "main", "stream_request"]

#: The prefix of the message that asks for a paced stream instead of an echo.
STREAM = "stream "


def stream_request(count: int, pause_ms: float, size: int) -> str:
    """The message that asks the echo server for a paced stream."""
    return f"{STREAM}{count} {pause_ms} {size}"


def _parse_stream(message: str | bytes) -> tuple[int, float, str] | None:
    if not isinstance(message, str) or not message.startswith(STREAM):
        return None
    count, pause_ms, size = message[len(STREAM) :].split()
    return int(count), float(pause_ms) / 1000, "x" * int(size)


async def _serve_asyncio(host: str, port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            stream = _parse_stream(message)
            if stream is None:
                await ws.send(message)
                continue
            count, pause, text = stream
            for index in range(count):
                if index:
                    await asyncio.sleep(pause)
                await ws.send(text)

    async with serve(echo, host, port, compression=None, max_size=None) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://{host}:{bound}/echo", flush=True)
        await asyncio.Future()


async def _serve_trio(host: str, port: int) -> None:
    import trio
    from websockets.trio.server import Server, ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            stream = _parse_stream(message)
            if stream is None:
                await ws.send(message)
                continue
            count, pause, text = stream
            for index in range(count):
                if index:
                    await trio.sleep(pause)
                await ws.send(text)

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            lambda task_status: serve(
                echo, port, host=host, compression=None, max_size=None, task_status=task_status
            )
        )
        bound = next(iter(server.listeners)).socket.getsockname()[1]
        print(f"listening on ws://{host}:{bound}/echo", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the echo server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m conformance.bench.echo")
    parser.add_argument("--io", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.io == "trio":
            import trio

            trio.run(_serve_trio, args.host, args.port)
        else:
            asyncio.run(_serve_asyncio(args.host, args.port))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

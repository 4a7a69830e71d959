"""The command line of the reference server: ``python -m reference_impl serve [options]``.

``responses-ws serve`` runs exactly this. On startup the server prints one line
``listening on ws://HOST:PORT/v1/responses`` (with the real port when ``--port 0``), which
harnesses parse, then how to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from reference_impl.faults import Faults, UnknownFaultError, describe
from reference_impl.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEVELOPMENT_KEY,
    RunningServer,
    ServerConfig,
    serve,
)
from reference_impl.session import DEFAULT_LIMITS, CostModel, Limits

__all__ = ["build_parser", "default_data_dir", "main", "parse_size"]

_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2}


def parse_size(text: str) -> int:
    """Parse a byte size: ``1048576``, ``16MiB``, ``512KiB``."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _positive_size(text: str) -> int:
    value = parse_size(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 byte")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _optional_seconds(text: str) -> float | None:
    return None if text.lower() == "none" else _seconds(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def default_data_dir() -> Path:
    """Return where ``store=true`` responses live when ``--data-dir`` is not given."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "responses-ws"


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of ``python -m reference_impl``."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_impl",
        description="The responses-ws reference server.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve_parser = commands.add_parser(
        "serve",
        help="run the reference server",
        description="Run the reference server of the Responses API over WebSocket at "
        "ws://HOST:PORT/v1/responses, serving two models: conformance-1, the deterministic "
        "conformance model that rws: directives script (spec appendix A), and freeform-1, "
        "which behaves like a real model (seeded text of its own, only the standard "
        "parameters obeyed).",
    )
    add = serve_parser.add_argument
    add("--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)")
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port; 0 picks a free one (default %(default)s)",
    )
    add(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept this bearer key (repeatable); without one the server accepts only the "
        f"development key {DEVELOPMENT_KEY!r}",
    )
    add(
        "--data-dir",
        type=Path,
        default=None,
        help="where store=true responses are persisted (SQLite); default "
        "$XDG_STATE_HOME/responses-ws",
    )
    add(
        "--max-connection-age",
        type=_seconds,
        default=DEFAULT_LIMITS.max_connection_age,
        metavar="SECONDS",
        help="connection-age limit (default %(default)s)",
    )
    add(
        "--idle-timeout",
        type=_optional_seconds,
        default=DEFAULT_LIMITS.idle_timeout,
        metavar="SECONDS",
        help="close idle connections after this long (default none)",
    )
    add(
        "--max-message-size",
        type=parse_size,
        default=DEFAULT_LIMITS.max_message_size,
        metavar="SIZE",
        help="largest client message, e.g. 16MiB (default 16MiB)",
    )
    add(
        "--max-active-responses",
        type=_positive_int,
        default=DEFAULT_LIMITS.max_active_responses,
        metavar="N",
        help="runs at once per connection (default %(default)s)",
    )
    add(
        "--max-named-lanes",
        type=_positive_int,
        default=DEFAULT_LIMITS.max_named_lanes,
        metavar="N",
        help="distinct stream_id values per connection (default %(default)s)",
    )
    add(
        "--no-multiplex",
        action="store_true",
        help="serve the core profile only: no lanes, a stream_id is refused with "
        "unsupported_parameter (RWS-LANE-12)",
    )
    add(
        "--no-steering",
        action="store_true",
        help="serve without the steering profile: every response.steer is refused with "
        "steering_not_supported (RWS-STEER-1)",
    )
    add(
        "--storage",
        choices=("durable", "none"),
        default=DEFAULT_LIMITS.storage,
        help="durable: store=true responses are persisted and hydrated on any connection; "
        "none: nothing outlives the connection, as on a server without a response store "
        "(D24; default %(default)s)",
    )
    add(
        "--busy-lane",
        choices=("queue", "reject"),
        default=DEFAULT_LIMITS.busy_lane,
        help="what a response.create on a busy lane gets (default %(default)s)",
    )
    add(
        "--max-queued-requests",
        type=_positive_int,
        default=DEFAULT_LIMITS.max_queued_requests,
        metavar="N",
        help="requests waiting on one connection; the next that would wait gets "
        "rate_limit_exceeded (RWS-LANE-11, default %(default)s)",
    )
    add(
        "--max-queued-bytes",
        type=_positive_size,
        default=DEFAULT_LIMITS.max_queued_bytes,
        metavar="SIZE",
        help="total size of the messages of the requests waiting on one connection, e.g. "
        "16MiB; a request that would wait beyond it gets rate_limit_exceeded (RWS-LANE-11, "
        "default 16MiB)",
    )
    add(
        "--write-timeout",
        type=_optional_seconds,
        default=DEFAULT_LIMITS.write_timeout,
        metavar="SECONDS",
        help="close with 1011 a connection whose client takes nothing the server sends for "
        "this long (RWS-LIMIT-13; 'none': never; default %(default)s)",
    )
    add(
        "--prefill-us-per-token",
        type=float,
        default=0.0,
        metavar="US",
        help="cost model: microseconds per uncached input token (default 0, off)",
    )
    add(
        "--decode-us-per-token",
        type=float,
        default=0.0,
        metavar="US",
        help="cost model: microseconds per output token (default 0, off)",
    )
    add(
        "--io",
        choices=("asyncio", "trio"),
        # asyncio by default: under many paced sessions it spends about half the CPU per event
        # of the trio layer, whose websockets I/O alone costs more (docs/benchmarks.md).
        default="asyncio",
        help="I/O layer around the same sans-I/O session: websockets.asyncio or "
        "websockets.trio (default %(default)s)",
    )
    add(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="break one rule on purpose (repeatable); '--fault help' lists them",
    )
    return parser


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        api_keys=frozenset(args.api_key) or frozenset({DEVELOPMENT_KEY}),
        data_dir=args.data_dir or default_data_dir(),
        limits=Limits(
            max_connection_age=_connection_age(args),
            idle_timeout=args.idle_timeout,
            max_message_size=args.max_message_size,
            max_active_responses=args.max_active_responses,
            max_named_lanes=args.max_named_lanes,
            busy_lane=args.busy_lane,
            max_queued_requests=args.max_queued_requests,
            max_queued_bytes=args.max_queued_bytes,
            write_timeout=args.write_timeout,
            storage=args.storage,
        ),
        cost=CostModel(args.prefill_us_per_token, args.decode_us_per_token),
        faults=Faults(args.fault),
        multiplex=not args.no_multiplex,
        steering=not args.no_steering,
    )


def _connection_age(args: argparse.Namespace) -> float:
    # RWS-LIMIT-3 recommends at least 10 minutes; the short-connection-age fault caps it at 5.
    age: float = args.max_connection_age
    if Faults(args.fault).active("short-connection-age"):
        return min(age, SHORT_CONNECTION_AGE)
    return age


#: The max-connection-age of the short-connection-age fault, in seconds.
SHORT_CONNECTION_AGE = 300.0


def _announce(url: str, config: ServerConfig, development_key: bool) -> None:
    print(f"listening on {url}", flush=True)
    print(f"limits: {config.limits.header()}", flush=True)
    print(f"data: {config.data_dir}", flush=True)
    if development_key:
        print(
            f"no --api-key given: accepting the development key {DEVELOPMENT_KEY!r}; "
            f"connect with the header 'Authorization: Bearer {DEVELOPMENT_KEY}'",
            flush=True,
        )
    if config.faults:
        print(f"FAULTS ON: {', '.join(sorted(config.faults.names))}", flush=True)


async def _run(config: ServerConfig, development_key: bool) -> None:
    # SIGINT and SIGTERM shut the server down cleanly instead of raising in whatever task
    # runs at that moment: connections close with 1001 ("the server is restarting",
    # RWS-ERR-6), then the database is closed. Stored responses are durable either way.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            running: RunningServer = await nursery.start(serve, config)
            _announce(running.url, config, development_key)
            async for _ in signals:
                break
            await running.aclose()
            nursery.cancel_scope.cancel()


def _freeze_startup_heap() -> None:
    """Leave what the server has loaded at startup out of every garbage collection.

    A full collection walks every object the process holds, and runs while every connection
    waits. The modules, schemas and tables loaded at startup live as long as the process and
    are never garbage: frozen, they are not walked (a quarter of the objects with 500 sessions
    open; docs/benchmarks.md).
    """
    gc.collect()
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if "help" in args.fault:
        print(describe())
        return 0
    try:
        config = _config(args)
    except UnknownFaultError as exc:
        print(f"error: {exc} (see --fault help)", file=sys.stderr)
        return 2
    try:
        if args.io == "asyncio":
            # Imported here: the trio server never loads the asyncio glue.
            from reference_impl.server_asyncio import run_forever

            _freeze_startup_heap()
            asyncio.run(run_forever(config, lambda url: _announce(url, config, not args.api_key)))
        else:
            _freeze_startup_heap()
            trio.run(_run, config, not args.api_key)
    except KeyboardInterrupt:
        return 0
    return 0

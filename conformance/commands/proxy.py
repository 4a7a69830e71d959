"""``responses-ws proxy``: check real traffic live, between a client and a server.

``responses-ws proxy --listen 127.0.0.1:PORT --upstream ws(s)://HOST[:PORT][/v1/responses]``
forwards every WebSocket connection to the upstream unchanged, both ways, and judges both
roles as the traffic crosses with the checker the suites use (``conformance.proxy``). Each
violation is printed as it happens; on SIGINT or SIGTERM the proxy stops, prints the summary
and writes one transcript per connection plus report.json, junit.xml and report.html into
``--report-dir``. With a command after ``--``, the proxy runs it (``RWS_PROXY_URL`` in its
environment) and stops when it exits. Exit status: 1 when a MUST was violated (with
``--fail-on should`` a SHOULD too), the command's own status when it failed, 2 when the proxy
could not start, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

_MIB = 1024 * 1024


def register(subparsers: Any) -> None:
    """Add the ``proxy`` subcommand."""
    from conformance.commands.validate import add_declaration_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "proxy",
        help="forward real traffic to a server and check both roles live",
        description="A WebSocket proxy between your client and a server: it forwards every "
        "message, ping and close unchanged and checks both sides as traffic crosses, with "
        "the suite's checker. Stop it with Ctrl-C (or SIGTERM) for the summary and the "
        "reports, or give it a command to run after --. See docs/guides/proxy.md.",
    )
    add = parser.add_argument
    add("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="where clients connect "
        "(default 127.0.0.1:0, any free port; the URL is printed)")  # fmt: skip
    add("--upstream", required=True, metavar="URL", help="the server: ws(s)://HOST[:PORT][/PATH]"
        " (without a path, each client's own path is used)")  # fmt: skip
    add("--upstream-ca", metavar="FILE", help="CA bundle to verify a wss upstream with "
        "(default: the system's certificates)")  # fmt: skip
    add("--insecure", action="store_true", help="do not verify a wss upstream's certificate")
    add("--report-dir", default="proxy-report", metavar="DIR", help="where the transcripts "
        "(DIR/transcripts/c1.jsonl...) and the reports go (default %(default)s)")  # fmt: skip
    add("--fail-on", choices=("must", "should"), default="must", help="exit 1 when a MUST is "
        "violated (default), or also when a SHOULD is not met")  # fmt: skip
    add("--role", choices=("server", "client", "both"), default="both",
        help="whose requirements to judge (default both)")  # fmt: skip
    add_declaration_arguments(parser)
    add("--no-compression", action="store_true", help="negotiate no permessage-deflate with "
        "either side (by default each side negotiates its own)")  # fmt: skip
    add("--max-message-size", type=int, default=64 * _MIB, metavar="BYTES",
        help="the largest message the proxy takes from either side (default 64 MiB)")  # fmt: skip
    add("--max-transcript-size", type=int, default=256 * _MIB, metavar="BYTES",
        help="a connection's transcript stops growing here (default 256 MiB)")  # fmt: skip
    add("--max-connections", type=int, default=256, metavar="N",
        help="connections served at once; more wait (default 256)")  # fmt: skip
    add("--open-timeout", type=float, default=10.0, metavar="S",
        help="for the client's upgrade request and the upstream's answer (default 10)")  # fmt: skip
    add("--close-timeout", type=float, default=10.0, metavar="S",
        help="for the closing handshake once a side sent a close (default 10)")  # fmt: skip
    add("--informational", action="store_true",
        help="print INFORMATIONAL findings too (behaviour the spec leaves open)")  # fmt: skip
    add("command", nargs=argparse.REMAINDER, help="a command to run through the proxy, after "
        "--; RWS_PROXY_URL (ws://HOST:PORT) is set in its environment")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the proxy until a signal (or the command's end); return the exit status."""
    from conformance.commands.validate import checker_config
    from conformance.proxy.addresses import parse_listen, parse_upstream, tls_context
    from conformance.proxy.session import Settings

    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    try:
        listen = parse_listen(args.listen)
        upstream = parse_upstream(args.upstream)
        tls = tls_context(upstream, args.upstream_ca, args.insecure)
        config = checker_config(args)
        for name in ("max_message_size", "max_transcript_size", "max_connections"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        report_dir = Path(args.report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:
        print(f"responses-ws proxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"responses-ws proxy: cannot write to {args.report_dir}: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        upstream=upstream,
        config=config,
        report_dir=report_dir,
        compression=not args.no_compression,
        max_message_size=args.max_message_size,
        transcript_limit=args.max_transcript_size,
        max_connections=args.max_connections,
        open_timeout=args.open_timeout,
        close_timeout=args.close_timeout,
        fail_on=args.fail_on,
    )
    judge = {
        "upstream": args.upstream,
        "profiles": sorted(config.profiles),
        "roles": sorted(config.roles),
        "parameters": dict(config.parameters),
        "report_dir": str(report_dir),
        "compression": settings.compression,
        "max_message_size": settings.max_message_size,
        "transcript_limit": settings.transcript_limit,
        "fail_on": settings.fail_on,
        "informational": args.informational,
    }
    outcome: dict[str, int] = {}
    try:
        asyncio.run(_main(settings, judge, listen, tls, command, outcome))
    except OSError as exc:
        print(f"responses-ws proxy: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 2
    ran = outcome.get("command")
    if ran:
        print(f"responses-ws proxy: the command exited with status {ran}", file=sys.stderr)
        return ran
    return outcome.get("judge", 2)


def _notice(text: str) -> None:
    print(f"responses-ws proxy: {text}", flush=True)


async def _main(
    settings: Any,
    judge: dict[str, Any],
    listen: Any,
    tls: Any,
    command: list[str],
    outcome: dict[str, int],
) -> None:
    from conformance.proxy.server import ProxyServer
    from conformance.proxy.worker import PipeTap, settings_json

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def ending(signum: int) -> None:
        if not stop.is_set():
            _notice(f"{signal.Signals(signum).name}: ending the session")
        stop.set()

    # The signals are caught before the URL is printed: whoever reads it may signal at once.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, ending, signum)
    sock = ProxyServer.bind(listen)  # before the judge starts: an address in use stops here
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conformance.proxy.worker", settings_json(judge),
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert worker.stdin is not None
    tap = PipeTap(worker.stdin)
    try:
        server = ProxyServer(settings, tap, tls, _notice)
        tap.flow(server.pause_reading, server.resume_reading)
        url = await server.start(sock)
        _notice(
            f"listening on {url} (upstream {settings.upstream}); "
            "Ctrl-C ends the session with a summary"
        )
        task = loop.create_task(_run_command(command, url, outcome, stop)) if command else None
        await stop.wait()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.close()
    finally:
        await tap.close()
        outcome["judge"] = await worker.wait()


async def _run_command(
    command: list[str], url: str, outcome: dict[str, int], stop: asyncio.Event
) -> None:
    env = {**os.environ, "RWS_PROXY_URL": url}
    try:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"responses-ws proxy: cannot run {command[0]}: {exc}", file=sys.stderr)
        outcome["command"] = 127
    else:
        try:
            outcome["command"] = await process.wait()
        except asyncio.CancelledError:
            process.terminate()
            await process.wait()
            raise
    stop.set()

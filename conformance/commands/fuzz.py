"""``responses-ws fuzz``: Hypothesis fuzzing of a server, with a minimal transcript on failure.

Stateless (default): each example sends one valid client event or one mutation (malformed
JSON, binary and non-UTF-8 frames, split and concatenated frames, wrong types, missing and
unknown fields, bad ``stream_id``s, huge strings and arrays, deep nesting) on a fresh
connection, checks the answer the spec requires and that the connection stays usable, and
runs the checker over the transcript. ``--stateful`` runs whole sessions instead (connect,
create, continue, fork, warm-up, steer, disconnect, reconnect, bad frame), judging every
continuation - served, or previous_response_not_found - by the fuzzer's own model of the
connection cache, with any model; with ``conformance-1`` it also compares the context the
model reports with that model's. A failure is shrunk (for at most the settings profile's
shrink budget); its minimal transcript is written to ``--out`` and ``responses-ws validate``
replays it. Progress is printed while the fuzzer searches and shrinks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.fuzz.client import Tape, Target, Unreachable, WireClient
from conformance.fuzz.profiles import BUDGETS, profile_name
from conformance.fuzz.run import fuzz, replay_command
from conformance.harness.config import CONFORMANCE_MODEL, env_float, responses_url
from conformance.harness.spawn import SpawnError, spawn_reference
from conformance.suite_options import default_profiles

__all__ = ["register", "run"]

_SERVER_PROFILES = ("core", "multiplex", "steering", "conformance-model")

_EPILOG = """\
profiles (settings): dev (200 examples, 20 sessions), ci (2,000 examples, 200 sessions,
derandomized), nightly (20,000 examples, 2,000 sessions); env RWS_FUZZ_PROFILE. Shrinking
stops after 60 s (dev, ci) or 300 s (nightly) and keeps the smallest failure found.

examples:
  responses-ws fuzz --spawn-reference --profile ci --stateful
  responses-ws fuzz --server-url wss://gateway.example --model my-model --stateful
  responses-ws fuzz --server-url ws://127.0.0.1:8080 --api-key KEY --max-examples 500
  responses-ws fuzz --spawn-reference --fault crash-on-deep-input --seed 1
  responses-ws validate fuzz-out/stateless-failure.jsonl --role server --profile core

exit status: 0 no failure, 1 a failure (see fuzz-out/fuzz-report.json), 2 usage or the
server could not be reached.
"""


def register(subparsers: Any) -> None:
    """Add the ``fuzz`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fuzz",
        help="fuzz a server with Hypothesis (frames, events, whole sessions)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--server-url", help="the server's base URL (ws://host:port) or its /v1/responses URL")
    add("--api-key", default=os.environ.get("RWS_API_KEY"), help="API key (env RWS_API_KEY)")
    add(
        "--api-key2",
        default=os.environ.get("RWS_API_KEY2"),
        help="a second API key the server accepts: the stateful fuzzer then checks that "
        "nothing is served across keys (RWS-LIMIT-5; env RWS_API_KEY2)",
    )
    add(
        "--rate-limited",
        action="store_true",
        help="the server rate-limits the key: rate_limit_exceeded may then answer any request "
        "(by default it is a failure, since no example leaves a request waiting, RWS-LANE-11)",
    )
    add(
        "--model",
        default=CONFORMANCE_MODEL,
        help="model to request (default %(default)s); with another model the fuzzer sends "
        "ordinary prompts and judges outcomes by their kind (a run or an error code)",
    )
    add(
        "--max-output-tokens",
        type=int,
        default=16,
        metavar="N",
        help="with a model other than conformance-1, cap every answer at N tokens to keep runs "
        "short (default %(default)s, the smallest OpenAI accepts)",
    )
    add(
        "--storage",
        choices=("durable", "none"),
        default="durable",
        help="the server's declared storage (D24): none hydrates nothing (default %(default)s)",
    )
    add(
        "--max-examples",
        type=int,
        metavar="N",
        help="stateless examples (or, with --stateful, sessions); default from the profile",
    )
    add("--seed", type=int, metavar="S", help="Hypothesis seed, to repeat a run")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--stateful", action="store_true", help="run whole sessions instead of single frames"
    )
    mode.add_argument("--both", action="store_true", help="run the stateless, then the stateful")
    add(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="a settings profile (dev, ci, nightly), or the profiles the server declares "
        "(core, multiplex, steering, conformance-model; comma-separated or repeated). "
        "Default server profiles: core, plus conformance-model for conformance-1 "
        "(and multiplex and steering for --spawn-reference)",
    )
    add(
        "--profile-settings",
        choices=sorted(BUDGETS),
        help="the settings profile (env RWS_FUZZ_PROFILE, default dev)",
    )
    add(
        "--timeout",
        type=float,
        default=env_float("RWS_TIMEOUT", 5.0),
        help="seconds to wait for each answer (env RWS_TIMEOUT, default %(default)s)",
    )
    add(
        "--busy-lane",
        choices=("queue", "reject"),
        default="queue",
        help="the server's declared busy-lane policy (RWS-LANE-2; default %(default)s)",
    )
    add("--out", default="fuzz-out", help="folder for fuzz-report.json and failure transcripts")
    add(
        "--known-failure",
        action="append",
        default=[],
        metavar="REGEX",
        help="tolerate failures whose message matches (repeatable), e.g. a finding being fixed",
    )
    add(
        "--spawn-reference",
        action="store_true",
        help="start the reference server (python -m reference_impl serve) and fuzz it",
    )
    add(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="with --spawn-reference: switch on a fault of the reference server (repeatable)",
    )
    parser.set_defaults(func=run)


def _profiles(args: argparse.Namespace) -> tuple[str | None, frozenset[str] | None]:
    """Split --profile values into (settings profile, declared server profiles)."""
    settings_name: str | None = args.profile_settings
    declared: set[str] = set()
    for value in args.profile:
        for name in (v.strip() for v in value.split(",")):
            if not name:
                continue
            if name in BUDGETS:
                settings_name = settings_name or name
            elif name in _SERVER_PROFILES:
                declared.add(name)
            else:
                raise SystemExit(
                    f"unknown profile {name!r}: settings profiles are {', '.join(BUDGETS)}; "
                    f"server profiles are {', '.join(_SERVER_PROFILES)}"
                )
    return settings_name, frozenset(declared) or None


@contextlib.contextmanager
def _server(
    args: argparse.Namespace, *, steering: bool
) -> Iterator[tuple[str, str | None, str | None, bool]]:
    """Yield (server URL, API key, second key, spawned), starting the reference server when
    asked to (with the steering profile when the run declares it)."""
    if not args.spawn_reference:
        if not args.server_url:
            raise SystemExit("responses-ws fuzz: give --server-url or --spawn-reference")
        yield args.server_url, args.api_key, args.api_key2, False
        return
    extra = [arg for name in args.fault for arg in ("--fault", name)]
    if not steering:
        extra.append("--no-steering")  # the server declares what the fuzzer is told
    with spawn_reference(extra) as server:
        print(f"reference server: {server.url}", flush=True)
        yield (
            server.url,
            args.api_key or server.api_keys[0],
            args.api_key2 or server.api_keys[1],
            True,
        )


def _print(line: str) -> None:
    """The progress hook: a line on the console at once (a long run must not look hung)."""
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the fuzzer(s); return the exit status."""
    settings_name, declared = _profiles(args)
    try:
        profile = profile_name(settings_name)
    except ValueError as exc:
        print(f"responses-ws fuzz: {exc}", file=sys.stderr)
        return 2
    mode = "stateful" if args.stateful else "both" if args.both else "stateless"
    if declared is None:
        declared = default_profiles(args.model)
        if args.spawn_reference:
            # The reference server has every profile.
            declared |= {"multiplex", "steering"}
    try:
        with _server(args, steering="steering" in declared) as (url, api_key, api_key2, _):
            target = Target(
                url=responses_url(url),
                api_key=api_key,
                model=args.model,
                profiles=declared,
                timeout=args.timeout,
                busy_lane=args.busy_lane,
                api_key2=api_key2,
                rate_limited=args.rate_limited,
                max_output_tokens=args.max_output_tokens,
                storage=args.storage,
            )
            try:
                # Fail fast (exit 2) on a server that cannot be reached, rather than
                # letting Hypothesis "shrink" a connection error.
                WireClient(target, Tape()).close()
            except Unreachable as exc:
                print(f"responses-ws fuzz: {target.url}: {exc}", file=sys.stderr)
                return 2
            print(
                f"fuzzing {target.url} with model {target.model!r}, profiles "
                f"{', '.join(sorted(declared))}, settings profile {profile}, mode {mode}",
                flush=True,
            )
            reports = fuzz(
                target,
                mode=mode,
                profile=profile,
                out_dir=Path(args.out),
                max_examples=args.max_examples,
                seed=args.seed,
                known=args.known_failure,
                report=_print,
            )
    except SpawnError as exc:
        print(f"responses-ws fuzz: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print(report.summary())
        if report.transcript is not None:
            print(f"  replay: {replay_command(report.transcript, declared)}")
    print(f"report: {Path(args.out) / 'fuzz-report.json'}")
    return 0 if all(r.ok for r in reports) else 1

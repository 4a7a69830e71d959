"""``responses-ws check``: run the server conformance suite against a server.

Points the suite's scenarios at ``--server-url`` (or at a reference server it starts itself
with ``--spawn-reference``), prints progress while checks finish, writes the reports and
prints the summary. The exit status is non-zero iff a check FAILED that the expected-failures
file does not list, an entry of that file is stale, or no check ran.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import trio

from conformance.baseline import (
    ExpectedFailure,
    apply_expected_failures,
    load_expected_failures,
    unmatched_entries,
)
from conformance.harness.config import (
    CONFORMANCE_MODEL,
    DEFAULT_PARAMETERS,
    DEFAULT_QUIET_PERIOD,
    DEFAULT_TIMEOUT,
    SuiteConfig,
    env_float,
)
from conformance.harness.probe import offers_model
from conformance.harness.runner import run_suite, select_scenarios
from conformance.harness.spawn import spawn_reference
from conformance.harness.wire import Rejected
from conformance.reports import Progress, print_summary, write_reports
from conformance.results import CheckResult

__all__ = ["build_config", "register", "run"]

# The reference server runs a second instance with this connection age for RWS-LIMIT-1/2,
# and a third with this idle-timeout for RWS-LIMIT-4.
_REFERENCE_TEST_AGE = 3.0
_REFERENCE_TEST_IDLE = 1.0


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="run the server conformance suite against a server",
        description="Run the server conformance suite against a Responses-over-WebSocket "
        "server and report a requirement-by-requirement verdict.",
    )
    add = parser.add_argument
    add("--server-url", help="the server's base URL (ws://host:port) or its /v1/responses URL")
    add("--api-key", default=os.environ.get("RWS_API_KEY"), help="API key (env RWS_API_KEY)")
    add(
        "--api-key2",
        default=os.environ.get("RWS_API_KEY2"),
        help="a second API key the server accepts, for RWS-LIMIT-5 (env RWS_API_KEY2)",
    )
    add(
        "--single-key",
        action="store_true",
        help="declare that only one API key exists: "
        "RWS-LIMIT-5 is then SKIPPED instead of FAILED for the missing second key",
    )
    add("--model", help="model to run; default conformance-1 when the server offers it")
    add(
        "--profile",
        help="declared profiles, comma-separated (core, multiplex, steering, "
        "conformance-model); default core, plus conformance-model when the model is "
        "conformance-1",
    )
    add(
        "--server-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a declared server parameter (repeatable): "
        + ", ".join(DEFAULT_PARAMETERS)
        + ", idle-timeout",
    )
    add("--report-dir", help="write report.json, junit.xml and report.html here")
    add("--expected-failures", metavar="FILE", help="YAML list of known failures (baseline)")
    add(
        "--timeout",
        type=float,
        default=env_float("RWS_TIMEOUT", DEFAULT_TIMEOUT),
        help="'must happen within' wait in seconds (env RWS_TIMEOUT, default %(default)s)",
    )
    add(
        "--quiet-period",
        type=float,
        default=env_float("RWS_QUIET_PERIOD", DEFAULT_QUIET_PERIOD),
        help="'must not happen during' wait in seconds (env RWS_QUIET_PERIOD, default %(default)s)",
    )
    add(
        "--test-connection-age",
        type=float,
        metavar="SECONDS",
        help="the server at --age-limit-url (default: --server-url) runs with this short "
        "max-connection-age for testing; enables the RWS-LIMIT-1/2 check",
    )
    add(
        "--age-limit-url",
        help="a second instance of the server, started with the short "
        "connection age of --test-connection-age",
    )
    add(
        "--test-idle-timeout",
        type=float,
        metavar="SECONDS",
        help="the server at --idle-limit-url (default: --server-url) runs with this short "
        "idle-timeout for testing; enables the RWS-LIMIT-4 checks",
    )
    add(
        "--idle-limit-url",
        help="an instance of the server started with the short idle-timeout of --test-idle-timeout",
    )
    add(
        "--check",
        action="append",
        default=[],
        metavar="ID",
        help="run only this check (repeatable)",
    )
    add(
        "--requirement",
        action="append",
        default=[],
        metavar="RWS-...",
        help="run only the checks of this requirement (repeatable)",
    )
    add("--jobs", type=int, default=4, help="checks run at once (default %(default)s)")
    add("--verbose", "-v", action="store_true", help="one line per check")
    add("--list", action="store_true", help="list the checks and exit")
    add(
        "--spawn-reference",
        action="store_true",
        help="start the reference server (python -m reference_impl serve) and test it",
    )
    add(
        "--reference-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the spawned reference server (repeatable), e.g. "
        "--reference-arg=--fault --reference-arg=no-cache",
    )
    parser.set_defaults(func=run)


def _parameters(pairs: Sequence[str]) -> dict[str, str]:
    out = dict(DEFAULT_PARAMETERS)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--server-param expects NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def build_config(args: argparse.Namespace, model: str) -> SuiteConfig:
    """The suite configuration the parsed arguments describe."""
    if args.profile:
        profiles = frozenset(p.strip() for p in args.profile.split(",") if p.strip())
    else:
        profiles = frozenset(
            {"core", "conformance-model"} if model == CONFORMANCE_MODEL else {"core"}
        )
    return SuiteConfig(
        server_url=args.server_url,
        api_key=args.api_key,
        api_key2=args.api_key2,
        single_key=args.single_key,
        model=model,
        profiles=profiles,
        parameters=_parameters(args.server_param),
        timeout=args.timeout,
        quiet_period=args.quiet_period,
        test_connection_age=args.test_connection_age,
        age_limit_url=args.age_limit_url,
        test_idle_timeout=args.test_idle_timeout,
        idle_limit_url=args.idle_limit_url,
    )


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[argparse.Namespace]:
    """Yield the arguments to run with, starting reference servers when asked to."""
    if not args.spawn_reference:
        yield args
        return
    extra = list(args.reference_arg)
    with (
        spawn_reference(extra) as main,
        spawn_reference([*extra, "--max-connection-age", str(_REFERENCE_TEST_AGE)]) as aged,
        spawn_reference([*extra, "--idle-timeout", str(_REFERENCE_TEST_IDLE)]) as idle,
    ):
        print(
            f"reference server: {main.url} (age-limit instance: {aged.url}, idle-limit "
            f"instance: {idle.url})",
            flush=True,
        )
        overrides = {
            "server_url": main.url,
            "api_key": args.api_key or main.api_keys[0],
            "api_key2": args.api_key2 or main.api_keys[1],
            "profile": args.profile or "core,multiplex,conformance-model",
            "test_connection_age": args.test_connection_age or _REFERENCE_TEST_AGE,
            "age_limit_url": aged.url,
            "test_idle_timeout": args.test_idle_timeout or _REFERENCE_TEST_IDLE,
            "idle_limit_url": idle.url,
        }
        yield argparse.Namespace(**{**vars(args), **overrides})


def run(args: argparse.Namespace) -> int:
    """Run the suite; return the exit status."""
    from conformance.scenarios import all_scenarios

    scenarios = select_scenarios(all_scenarios(), ids=args.check, requirements=args.requirement)
    if args.list:
        for scn in scenarios:
            print(
                f"{scn.id:48} [{scn.profile}{'*' if scn.needs_model else ''}] "
                f"{' '.join(scn.requirements)}"
            )
        return 0
    baseline: tuple[ExpectedFailure, ...] = ()
    if args.expected_failures:
        baseline = load_expected_failures(args.expected_failures)
    with _target(args) as target:
        if not target.server_url:
            print(
                "responses-ws check: --server-url or --spawn-reference is required", file=sys.stderr
            )
            return 2
        model = target.model or _default_model(target)
        config = build_config(target, model)
        print(
            f"checking {config.url} with model {config.model!r}, profiles "
            f"{', '.join(sorted(config.profiles))}: {len(scenarios)} checks",
            flush=True,
        )
        progress = Progress(verbose=args.verbose, total=len(scenarios), baseline=baseline)

        def finished(check: CheckResult, done: int, total: int) -> None:
            progress.check_finished(check)

        result = trio.run(lambda: run_suite(config, scenarios, jobs=args.jobs, progress=finished))
        progress.finish()
    result, stale = apply_expected_failures(result, baseline)
    if args.report_dir:
        paths = write_reports(result, args.report_dir, stale=stale)
        print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return print_summary(result, stale, unmatched=unmatched_entries(result, baseline))


def _default_model(args: argparse.Namespace) -> str:
    """conformance-1 when the server offers it; otherwise the user must name a model."""
    config = SuiteConfig(server_url=args.server_url, api_key=args.api_key, timeout=args.timeout)
    try:
        offered = trio.run(offers_model, config, CONFORMANCE_MODEL)
    except Rejected as exc:
        raise SystemExit(f"responses-ws check: cannot open {config.url}: {exc}") from exc
    if offered:
        return CONFORMANCE_MODEL
    raise SystemExit(
        "responses-ws check: the server does not offer conformance-1; name a model with --model"
    )

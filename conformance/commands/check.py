"""``responses-ws check``: run the server conformance suite against a server.

Points the suite's scenarios at ``--server-url`` (or at a reference server it starts itself
with ``--spawn-reference``), prints progress while checks finish, writes the reports and
prints the summary. The exit status is non-zero iff a check FAILED that the expected-failures
file does not list, an entry of that file is stale, or no check ran. With ``--stress`` it
runs the stress probes instead (:mod:`conformance.stress.command`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import Any

import trio

from conformance.baseline import (
    ExpectedFailure,
    apply_expected_failures,
    load_expected_failures,
    unmatched_entries,
)
from conformance.harness.config import CONFORMANCE_MODEL, SuiteConfig
from conformance.harness.runner import run_suite, select_scenarios
from conformance.harness.spawn import spawn_reference
from conformance.reports import DEFAULT_SPEC_BASE_URL, Progress, print_summary, write_reports
from conformance.results import CheckResult
from conformance.suite_options import (
    ModelUnavailableError,
    OptionError,
    SuiteOptions,
    add_options,
    add_stress_options,
    read_options,
    resolve_model,
    suite_config,
)

__all__ = [
    "REFERENCE_REAL_MODEL_PACE",
    "build_config",
    "options_from_args",
    "profile_warning",
    "register",
    "run",
]

# The reference server runs a second instance with this connection age for RWS-LIMIT-1/2,
# a third with this idle-timeout for RWS-LIMIT-4 and a fourth without the steering profile
# for RWS-STEER-1.
_REFERENCE_TEST_AGE = 3.0
_REFERENCE_TEST_IDLE = 1.0
# A model other than conformance-1 runs at the pace of a real one (50 output tokens a second),
# so that a long answer is still in flight when the next request arrives: the busy-lane, age
# and idle checks need that (conformance-1 is paced by its own rws:delay directives).
REFERENCE_REAL_MODEL_PACE: tuple[str, str] = ("--decode-us-per-token", "20000")


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
    # The options that shape the run are the pytest plugin's too (--rws-*): one table.
    add_options(add)
    # The stress mode (issue 18) is this command's only: not a profile, not a pytest run.
    add_stress_options(add)
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
    add(
        "--transport",
        choices=("websocket", "http"),
        default="websocket",
        help="http: run the transport-independent checks over POST /v1/responses on the same "
        "base URL, and the checks of profile http (spec section 13); default %(default)s",
    )
    add(
        "--spec-base-url",
        default=DEFAULT_SPEC_BASE_URL,
        metavar="URL",
        help="the published specification report.html links requirements to (default %(default)s)",
    )
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


def options_from_args(args: argparse.Namespace) -> SuiteOptions:
    """The run's options from the parsed arguments (raises OptionError)."""
    return read_options(lambda dest: getattr(args, dest), server_url=args.server_url)


def build_config(args: argparse.Namespace, model: str) -> SuiteConfig:
    """The suite configuration the parsed arguments describe."""
    return suite_config(options_from_args(args), model)


@contextlib.contextmanager
def _target(options: SuiteOptions, args: argparse.Namespace) -> Iterator[SuiteOptions]:
    """Yield the options to run with, starting reference servers when asked to."""
    if not args.spawn_reference:
        yield options
        return
    extra = list(args.reference_arg)
    if options.profiles and "steering" not in options.profiles:
        extra.append("--no-steering")  # the server declares what the suite is told
    if options.model not in (None, CONFORMANCE_MODEL) and "--decode-us-per-token" not in extra:
        extra += REFERENCE_REAL_MODEL_PACE
    with (
        spawn_reference(extra) as main,
        spawn_reference([*extra, "--max-connection-age", str(_REFERENCE_TEST_AGE)]) as aged,
        spawn_reference([*extra, "--idle-timeout", str(_REFERENCE_TEST_IDLE)]) as idle,
        spawn_reference([*extra, "--no-steering"]) as plain,
    ):
        print(
            f"reference server: {main.url} (age-limit instance: {aged.url}, idle-limit "
            f"instance: {idle.url}, instance without steering: {plain.url})",
            flush=True,
        )
        yield dataclasses.replace(
            options,
            server_url=main.url,
            api_key=options.api_key or main.api_keys[0],
            api_key2=options.api_key2 or main.api_keys[1],
            # The reference server serves every profile, the HTTP baseline (spec section 13)
            # on the same port included.
            profiles=options.profiles
            or ("core", "multiplex", "steering", "conformance-model", "http"),
            test_connection_age=options.test_connection_age or _REFERENCE_TEST_AGE,
            age_limit_url=aged.url,
            test_idle_timeout=options.test_idle_timeout or _REFERENCE_TEST_IDLE,
            idle_limit_url=idle.url,
            no_steering_url=options.no_steering_url or plain.url,
        )


def profile_warning(options: SuiteOptions, config: SuiteConfig) -> str | None:
    """A warning when the model is conformance-1 but an explicit ``--profile`` leaves out
    conformance-model: the checks that need the scripted model are then SKIPPED."""
    if config.model != CONFORMANCE_MODEL or not options.profiles:
        return None
    if "conformance-model" in config.profiles:
        return None
    return (
        f"warning: the model is {CONFORMANCE_MODEL!r} but --profile "
        f"{','.join(options.profiles)} leaves out 'conformance-model': the checks that need "
        "the scripted model will be SKIPPED (add --profile conformance-model to run them)"
    )


def _with_transport(config: SuiteConfig, transport: str) -> SuiteConfig:
    """The configuration over ``transport``: over HTTP the server serves the http profile."""
    if transport == "websocket":
        return config
    return dataclasses.replace(config, transport=transport, profiles=config.profiles | {"http"})


def run(args: argparse.Namespace) -> int:
    """Run the suite; return the exit status."""
    if args.stress:
        # Imported here: the stress probes are not loaded by a conformance run.
        from conformance.stress.command import list_probes, run_stress_command

        if args.list:
            print(list_probes())
            return 0
        try:
            return run_stress_command(args, options_from_args(args))
        except OptionError as exc:
            print(f"responses-ws check: {exc}", file=sys.stderr)
            return 2
    from conformance.scenarios import all_scenarios

    scenarios = select_scenarios(all_scenarios(), ids=args.check, requirements=args.requirement)
    if args.list:
        for scn in scenarios:
            print(
                f"{scn.id:48} [{scn.profile}{'*' if scn.needs_model else ''}] "
                f"{' '.join(scn.requirements)}"
            )
        return 0
    try:
        options = options_from_args(args)
    except OptionError as exc:
        print(f"responses-ws check: {exc}", file=sys.stderr)
        return 2
    baseline: tuple[ExpectedFailure, ...] = ()
    if options.expected_failures is not None:
        baseline = load_expected_failures(options.expected_failures)
    with _target(options, args) as target:
        if not target.server_url:
            print(
                "responses-ws check: --server-url or --spawn-reference is required", file=sys.stderr
            )
            return 2
        try:
            model = resolve_model(target)
        except ModelUnavailableError as exc:
            raise SystemExit(f"responses-ws check: {exc}") from exc
        config = _with_transport(suite_config(target, model), args.transport)
        print(
            f"checking {config.url} with model {config.model!r}, profiles "
            f"{', '.join(sorted(config.profiles))}: {len(scenarios)} checks",
            flush=True,
        )
        warning = profile_warning(options, config)
        if warning:
            print(warning, flush=True)
        if not args.verbose:
            print(Progress.legend(), flush=True)
        progress = Progress(verbose=args.verbose, total=len(scenarios), baseline=baseline)

        def finished(check: CheckResult, done: int, total: int) -> None:
            progress.check_finished(check)

        result = trio.run(lambda: run_suite(config, scenarios, jobs=args.jobs, progress=finished))
        progress.finish()
    result, stale = apply_expected_failures(result, baseline)
    if options.report_dir is not None:
        paths = write_reports(
            result, options.report_dir, stale=stale, spec_base_url=args.spec_base_url
        )
        print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return print_summary(result, stale, unmatched=unmatched_entries(result, baseline))

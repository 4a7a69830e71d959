"""``responses-ws check --stress``: the stress mode of the ``check`` command.

Reads the stress options, chooses the model as the suite does and reads the limits the
server advertises in its upgrade response (with ``--spawn-reference``, from a reference
server started for that), runs the probes (with ``--spawn-reference``, each on a fresh
reference server whose pid gives the memory figures; otherwise on ``--server-url``, with
``--server-pid`` for memory figures), prints the figures table, writes the usual reports
(report.json, junit.xml, report.html: one check per probe) and a summary of the verdicts. The
exit status is the suite's: stress verdicts are WARNING or INFORMATIONAL, so it is 0 unless
the command itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import trio

from conformance.baseline import exit_reasons, exit_status
from conformance.harness.config import CONFORMANCE_MODEL, DEFAULT_PARAMETERS, responses_url
from conformance.harness.spawn import SpawnError, spawn_reference
from conformance.reports import write_reports
from conformance.stress.config import (
    PROBE_NAMES,
    StressParams,
    declared_limits,
    param_help,
    parse_limits_header,
)
from conformance.stress.context import OPEN_TIMEOUT, Target
from conformance.stress.runner import (
    PROBES,
    ServerForProbe,
    describe_error,
    run_stress,
    same_server,
)
from conformance.stress.table import format_reports, format_summary
from conformance.stress.wire import ConnectFailed, RawConnection
from conformance.suite_options import (
    ModelUnavailableError,
    OptionError,
    StressOptions,
    SuiteOptions,
    read_stress_options,
    resolve_model,
)

__all__ = ["list_probes", "run_stress_command", "stress_options_from_args"]


def stress_options_from_args(args: argparse.Namespace) -> StressOptions:
    """The stress options of the parsed arguments (raises OptionError)."""
    return read_stress_options(lambda dest: getattr(args, dest, None))


def list_probes() -> str:
    """The probes and the parameters, for ``check --stress --list``."""
    probes = "\n".join(f"  {p.name:<16} {p.title}" for p in PROBES.values())
    return (
        f"stress probes:\n{probes}\n\n"
        f"stress parameters (--stress-param NAME=VALUE):\n{param_help()}"
    )


def _reference_args(options: SuiteOptions, args: argparse.Namespace) -> list[str]:
    """The spawned reference server's extra arguments (as ``check`` gives them)."""
    # Imported here: the check command imports this module lazily, and owns the pace.
    from conformance.commands.check import REFERENCE_REAL_MODEL_PACE

    extra = list(args.reference_arg)
    if options.model not in (None, CONFORMANCE_MODEL) and "--decode-us-per-token" not in extra:
        extra += REFERENCE_REAL_MODEL_PACE
    return extra


@contextlib.contextmanager
def _target(options: SuiteOptions, args: argparse.Namespace) -> Iterator[SuiteOptions]:
    """The options to choose the model and read the limits with, starting one reference
    server for that when asked to (the probes get servers of their own)."""
    if not args.spawn_reference:
        yield options
        return
    with spawn_reference(_reference_args(options, args)) as main:
        yield dataclasses.replace(
            options, server_url=main.url, api_key=options.api_key or main.api_keys[0]
        )


def _fresh_reference(extra: list[str], log: Callable[[str], None]) -> ServerForProbe:
    """A new reference server for each probe (started and stopped in a worker thread: the
    start waits for the server's first line)."""

    @contextlib.asynccontextmanager
    async def server() -> AsyncIterator[tuple[str, int | None]]:
        spawned = spawn_reference(extra)
        main = await trio.to_thread.run_sync(spawned.__enter__)
        log(f"reference server: {main.url} (pid {main.process.pid})")
        try:
            yield responses_url(main.url), main.process.pid
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(spawned.__exit__, None, None, None)

    return server


async def _advertised(url: str, api_key: str | None) -> dict[str, str]:
    conn = await RawConnection.open(url, api_key=api_key, timeout=OPEN_TIMEOUT)
    try:
        return parse_limits_header(conn.headers.get("responses-ws-limits", ""))
    finally:
        await conn.close(timeout=2.0)


def run_stress_command(args: argparse.Namespace, options: SuiteOptions) -> int:
    """Run the stress mode; return the exit status."""
    try:
        stress = stress_options_from_args(args)
        params = StressParams().with_overrides(stress.params)
    except (OptionError, ValueError) as exc:
        print(f"responses-ws check: {exc}", file=sys.stderr)
        return 2
    unknown = [p for p in stress.probes if p not in PROBES]
    if unknown:
        print(
            f"responses-ws check: unknown stress probe {unknown[0]!r} "
            f"(known: {', '.join(PROBE_NAMES)})",
            file=sys.stderr,
        )
        return 2
    probes = [p for p in PROBE_NAMES if not stress.probes or p in stress.probes]
    try:
        with _target(options, args) as target_options:
            if not target_options.server_url:
                print(
                    "responses-ws check: --server-url or --spawn-reference is required",
                    file=sys.stderr,
                )
                return 2
            url = responses_url(target_options.server_url)
            try:
                model = resolve_model(target_options)
                advertised = trio.run(_advertised, url, target_options.api_key)
            except (ModelUnavailableError, ConnectFailed) as exc:
                print(f"responses-ws check: {exc}", file=sys.stderr)
                return 2
            except Exception as exc:  # the server broke the model question: say so, no trace
                print(
                    f"responses-ws check: asking {url} which model to use failed: "
                    f"{describe_error(exc)}",
                    file=sys.stderr,
                )
                return 2
    except SpawnError as exc:
        print(f"responses-ws check: {exc}", file=sys.stderr)
        return 2
    target = Target(
        url=url,
        api_key=target_options.api_key,
        model=model,
        limits=declared_limits(DEFAULT_PARAMETERS, advertised, dict(target_options.parameters)),
    )
    if args.spawn_reference:
        server = _fresh_reference(_reference_args(options, args), _log)
        where = "a fresh reference server per probe (its pid gives the memory figures)"
    else:
        server = same_server(url, stress.server_pid)
        where = url + (
            f" (server pid {stress.server_pid})"
            if stress.server_pid is not None
            else " (no server pid: no memory figures)"
        )
    print(f"stressing {where} with model {model!r}: {', '.join(probes)}", flush=True)
    result, reports = trio.run(
        lambda: run_stress(
            target, params, probes, server=server, fresh=args.spawn_reference, log=_log
        )
    )
    print()
    print(format_reports(reports, f"stress figures: {where}, model {model}"))
    if options.report_dir is not None:
        paths = write_reports(result, options.report_dir, registry={})
        print(f"\nreports: {', '.join(str(p) for p in paths.values())}")
    # Not the suite's summary: it counts requirements and calls a WARNING an unmet SHOULD,
    # and a stress probe tests no requirement. The exit status is the suite's all the same.
    print()
    print(format_summary(reports, result.duration_s))
    status = exit_status(result)
    reasons = "; ".join(exit_reasons(result)) or "the stress probes ran"
    print(f"\nExit status {status}: {reasons}.")
    return status


def _log(line: str) -> None:
    print(line, flush=True)

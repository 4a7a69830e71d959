"""``responses-ws check-client``: run the client conformance suite against a client program.

For each scenario a scripted server starts on loopback and ``--client-cmd`` runs with the
adapter contract's environment (docs/client-adapters.md); verdicts come from the checker over
the captured traffic plus the client's output and exit status. ``--shipped`` runs the adapters
shipped under ``conformance/adapters/`` instead, each with its expected-failures file. The
exit status is non-zero iff a check FAILED that the expected-failures file does not list, an
entry of that file is stale, or no check ran.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio

from conformance.adapters import ADAPTERS, AdapterInfo, main_python, peers_python
from conformance.baseline import (
    ExpectedFailure,
    apply_expected_failures,
    load_expected_failures,
    unmatched_entries,
)
from conformance.clientsuite.runner import DEFAULT_MODEL, ClientUnderTest, run_client_suite, select
from conformance.reports import Progress, print_summary, write_reports
from conformance.results import CheckResult

__all__ = ["register", "run", "shipped_clients"]


def register(subparsers: Any) -> None:
    """Add the ``check-client`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-client",
        help="run the client conformance suite against a client program",
        description="Run the client conformance suite: a scripted server per scenario, the "
        "client command with RWS_URL, RWS_API_KEY, RWS_MODEL and RWS_SCENARIO (and the rest "
        "of the adapter contract, docs/client-adapters.md) in its environment.",
    )
    add = parser.add_argument
    add("--client-cmd", metavar="CMD", help="the client program (run with the shell)")
    add("--adapter-name", default="client", help="name of the client in check ids and reports")
    add(
        "--profile",
        default="core",
        help="profiles the client declares, comma-separated (core, multiplex); default %(default)s",
    )
    add(
        "--shipped",
        metavar="NAMES",
        help="run the shipped adapters instead of --client-cmd: 'all' or a comma-separated "
        "list of " + ", ".join(a.name for a in ADAPTERS),
    )
    add("--report-dir", help="write report.json, junit.xml and report.html here")
    add("--expected-failures", metavar="FILE", help="YAML list of known failures (baseline)")
    add("--model", default=DEFAULT_MODEL, help="model id the client is told (RWS_MODEL)")
    add("--scenario", action="append", default=[], metavar="ID", help="run only this scenario")
    add(
        "--requirement",
        action="append",
        default=[],
        metavar="RWS-...",
        help="run only the scenarios of this requirement (repeatable)",
    )
    add("--jobs", type=int, default=4, help="scenarios run at once (default %(default)s)")
    add("--verbose", "-v", action="store_true", help="one line per check")
    add("--list", action="store_true", help="list the scenarios and exit")
    parser.set_defaults(func=run)


def shipped_clients(names: str) -> tuple[list[ClientUnderTest], list[ExpectedFailure], list[str]]:
    """The shipped adapters named (``all`` or a comma list), their baselines, and notes about
    adapters that cannot run here."""
    wanted = [a.name for a in ADAPTERS] if names == "all" else names.split(",")
    known = {a.name: a for a in ADAPTERS}
    clients: list[ClientUnderTest] = []
    baseline: list[ExpectedFailure] = []
    notes: list[str] = []
    for name in (n.strip() for n in wanted if n.strip()):
        info: AdapterInfo | None = known.get(name)
        if info is None:
            raise SystemExit(f"responses-ws check-client: unknown adapter {name!r}")
        python = peers_python() if info.peers else main_python()
        if python is None:
            notes.append(f"{name}: no peers interpreter (set RWS_PEERS_PYTHON or make peers)")
            continue
        from conformance.adapters import REPO_ROOT

        clients.append(
            ClientUnderTest(
                name=info.name,
                command=info.command(python),
                profiles=info.profiles,
                env={"PYTHONPATH": str(REPO_ROOT)},
                cwd=str(REPO_ROOT),
                undeclared=info.undeclared,
            )
        )
        if info.expected_failures.exists():
            baseline.extend(load_expected_failures(info.expected_failures))
    return clients, baseline, notes


def run(args: argparse.Namespace) -> int:
    """Run the client suite; return the exit status."""
    try:
        scenarios = select(args.scenario, args.requirement)
    except KeyError as exc:
        print(f"responses-ws check-client: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        for scn in scenarios:
            print(f"{scn.id:24} [{scn.profile}] task={scn.task:12} {' '.join(scn.requirements)}")
        return 0
    baseline: list[ExpectedFailure] = []
    if args.shipped:
        clients, baseline, notes = shipped_clients(args.shipped)
        for note in notes:
            print(f"skipping {note}", file=sys.stderr)
    elif args.client_cmd:
        profiles = frozenset(p.strip() for p in args.profile.split(",") if p.strip())
        clients = [ClientUnderTest(args.adapter_name, args.client_cmd, profiles)]
    else:
        print("responses-ws check-client: --client-cmd or --shipped is required", file=sys.stderr)
        return 2
    if args.expected_failures:
        baseline.extend(load_expected_failures(args.expected_failures))
    total = len(clients) * len(scenarios)
    print(
        f"checking {', '.join(c.name for c in clients) or 'no client'}: "
        f"{len(scenarios)} scenarios, {total} checks",
        flush=True,
    )
    if not args.verbose:
        print(Progress.legend(), flush=True)
    progress = Progress(verbose=args.verbose, total=total, baseline=baseline)

    def finished(check: CheckResult) -> None:
        progress.check_finished(check)

    result = trio.run(
        lambda: run_client_suite(
            clients, scenarios, jobs=args.jobs, model=args.model, progress=finished
        )
    )
    progress.finish()
    result, stale = apply_expected_failures(result, baseline)
    if args.report_dir:
        paths = write_reports(result, args.report_dir, stale=stale)
        print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return print_summary(result, stale, unmatched=unmatched_entries(result, baseline))

"""The server suite (and, with ``--rws-client-cmd``, the client suite) as pytest items: one
:class:`CheckItem` per check under the node ``responses-ws``, run by :class:`RwsSession`.

The settings are :class:`~conformance.suite_options.SuiteOptions`, read from the ``--rws-*``
options by the same code that reads ``responses-ws check``'s options, and the suite is
configured by the same :func:`~conformance.suite_options.suite_config`: the plugin and the
command give the same verdicts for the same server and options.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from conformance.baseline import (
    ExpectedFailure,
    StaleEntry,
    apply_expected_failures,
    exit_reasons,
    expected_failure_reason,
    unmatched_entries,
)
from conformance.pytest_plugin._item import SyncItem
from conformance.results import CheckResult, RunResult, Verdict, resolve
from conformance.suite_options import (
    ModelUnavailableError,
    OptionError,
    SuiteOptions,
    read_options,
    resolve_model,
    suite_config,
)

if TYPE_CHECKING:
    from conformance.harness.config import SuiteConfig

__all__ = [
    "PREFIX",
    "CheckFailedError",
    "CheckItem",
    "CheckSpec",
    "HarnessSource",
    "RwsSession",
    "RwsSettings",
    "StaleExpectedFailureError",
    "SuiteSource",
    "client_source",
    "settings_from_config",
]

# The plugin's options are the command's with this prefix: --rws-api-key for --api-key.
PREFIX = "rws-"
# How many wire records a pytest failure shows (the full log is in the reports).
_WIRE_TAIL = 20

# The plugin's settings are the command's options (the name is the hook's, kept for
# conftest.py files that implement pytest_rws_suite_source).
RwsSettings = SuiteOptions


class CheckSpec(Protocol):
    """What collection needs to know about a check (a harness ``Scenario`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def requirements(self) -> tuple[str, ...]: ...


class SuiteSource(Protocol):
    """Where the checks come from and how one is run; the plugin takes the suite as data."""

    def checks(self) -> Sequence[CheckSpec]:
        """Every check, in run order."""
        ...

    def run_check(self, check_id: str) -> CheckResult:
        """Run one check to completion (blocking) and return its result."""
        ...

    def target(self) -> Mapping[str, Any]:
        """What the run is against (``RunResult.target``); no credentials."""
        ...


def settings_from_config(config: pytest.Config) -> SuiteOptions | None:
    """The settings, or ``None`` when ``--rws-server-url`` is absent."""
    url = config.getoption("rws_server_url")
    if not url:
        return None
    try:
        return read_options(
            lambda dest: config.getoption("rws_" + dest), prefix=PREFIX, server_url=str(url)
        )
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from exc


class HarnessSource:
    """The default source: the harness's scenarios (``conformance.scenarios``), each run in
    its own trio run, configured exactly as ``responses-ws check`` configures them (the model
    too: conformance-1 when the server offers it, asked before the first check runs)."""

    def __init__(self, settings: SuiteOptions) -> None:
        # Imported here, not at module level: the plugin module is imported by every pytest
        # run, and the harness pulls in trio, websockets and the checker.
        from conformance.requirements import load_requirements
        from conformance.scenarios import all_scenarios

        self.settings = settings
        self._config: SuiteConfig | None = None  # once the model is chosen
        self.scenarios = {scn.id: scn for scn in all_scenarios()}
        self.requirements = load_requirements()

    @property
    def config(self) -> SuiteConfig:
        """The suite configuration; choosing the model may ask the server,
        so it happens when the first check runs, never at collection."""
        if self._config is None:
            try:
                model = resolve_model(self.settings, prefix=PREFIX)
            except ModelUnavailableError as exc:
                # As `responses-ws check` stops: no check can be judged against this server.
                pytest.exit(f"responses-ws: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            self._config = suite_config(self.settings, model)
        return self._config

    def checks(self) -> Sequence[CheckSpec]:
        """Every scenario, in the suite's order."""
        return list(self.scenarios.values())

    def run_check(self, check_id: str) -> CheckResult:
        """Run one scenario in its own trio run."""
        import trio

        from conformance.harness.runner import run_scenario

        scenario = self.scenarios[check_id]
        return trio.run(run_scenario, scenario, self.config, self.requirements)

    def target(self) -> Mapping[str, Any]:
        """The suite config's description plus the suite version."""
        from conformance.harness.runner import suite_version

        return {**self.config.describe(), "suite_version": suite_version(), "runner": "pytest"}


class CheckFailedError(Exception):
    """A check FAILED; carries its result so that the failure shows expected vs actual."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.id)
        self.result = result


class StaleExpectedFailureError(Exception):
    """The expected-failures file lists this check but it no longer fails."""


def _wire_tail(result: CheckResult) -> str:
    records = result.wire_log[-_WIRE_TAIL:]
    lines = []
    for record in records:
        kind = record.get("kind")
        body = (
            record.get("text")
            if kind == "text"
            else {k: v for k, v in record.items() if k not in ("ts", "conn", "kind", "dir")}
        )
        text = str(body)
        text = text if len(text) <= 300 else text[:300] + " …"
        lines.append(f"  {record.get('conn', '')} {record.get('dir', '')} {kind}: {text}")
    skipped = len(result.wire_log) - len(records)
    head = (
        f"wire log (last {len(records)} of {len(result.wire_log)} records)"
        if skipped
        else (f"wire log ({len(records)} records)")
    )
    return head + ":\n" + "\n".join(lines) if lines else "wire log: empty"


class CheckItem(SyncItem):
    """One suite check as a pytest item."""

    def __init__(self, *, spec: CheckSpec, session_plugin: RwsSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.session_plugin = session_plugin
        self.user_properties.append(("rws_requirements", " ".join(spec.requirements)))

    def runtest(self) -> None:
        """Run the check and turn its verdict into a pytest outcome."""
        result = self.session_plugin.run(self.spec.id)
        self.user_properties.append(("rws_verdict", result.verdict.value))
        reason = self.session_plugin.expected_reason(result)
        if result.verdict is Verdict.FAILED:
            if reason is not None:
                self.user_properties.append(("rws_expected_failure", reason))
                pytest.xfail(f"expected failure: {reason}")
            raise CheckFailedError(result)
        stale = self.session_plugin.stale_for(result)
        if stale is not None:
            raise StaleExpectedFailureError(stale.message)
        if result.verdict is Verdict.SKIPPED:
            pytest.skip(result.message or "skipped")
        if result.verdict is Verdict.BLOCKED:
            # Not judged: the run fails through the blocker (its own check, or the session's
            # "violated on the way" reason).
            blockers = sorted({r for by in result.blocked_by.values() for r in by})
            first = (result.message.splitlines() or [""])[0]
            pytest.skip(f"BLOCKED by {', '.join(blockers)}: {first}")
        if result.verdict in (Verdict.WARNING, Verdict.INFORMATIONAL):
            # A section, not warnings.warn(): warnings are errors under filterwarnings=error.
            self.add_report_section(
                "call", "responses-ws", f"{result.verdict.value}: {result.message}"
            )
            self.user_properties.append(("rws_message", result.message))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """Expected vs actual and the tail of the wire log, not a Python traceback."""
        if isinstance(excinfo.value, CheckFailedError):
            result = excinfo.value.result
            return (
                f"{result.id} FAILED [{' '.join(result.requirements)}]\n"
                f"{result.message}\n\n{_wire_tail(result)}"
            )
        if isinstance(excinfo.value, StaleExpectedFailureError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item "is": the check id and title."""
        return self.path, None, f"{self.spec.id}: {self.spec.title}"


class _SuiteCollector(pytest.Collector):
    """The node every check item hangs under (node id ``responses-ws``)."""

    def __init__(self, *, session_plugin: RwsSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_plugin = session_plugin

    def collect(self) -> list[pytest.Item]:
        """One item per check of the source."""
        return [
            CheckItem.from_parent(self, name=spec.id, spec=spec, session_plugin=self.session_plugin)
            for spec in self.session_plugin.source.checks()
        ]


@dataclass
class RwsSession:
    """The plugin's state for one pytest session; registered only with ``--rws-server-url``."""

    config: pytest.Config
    settings: RwsSettings
    source: SuiteSource
    baseline: tuple[ExpectedFailure, ...] = ()
    results: dict[str, CheckResult] = field(default_factory=dict)
    started_at: str = ""
    started: float = 0.0
    stale: tuple[StaleEntry, ...] = ()
    written: dict[str, Path] = field(default_factory=dict)

    def run(self, check_id: str) -> CheckResult:
        """Run one check and keep its result for the reports.

        The result is resolved (conformance.results.resolve) with the checks that ran before
        it: a conclusion that relied on a requirement already seen violated is BLOCKED. The
        reports resolve again over the whole run.
        """
        if not self.results:
            self.started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            self.started = time.monotonic()
        self.results[check_id] = self.source.run_check(check_id)
        return resolve(list(self.results.values()))[-1]

    def _single(self, result: CheckResult) -> tuple[RunResult, tuple[StaleEntry, ...]]:
        one = RunResult(checks=(result,), started_at="", duration_s=0.0, target={})
        return apply_expected_failures(one, self.baseline)

    def expected_reason(self, result: CheckResult) -> str | None:
        """The baseline reason when ``result`` is a listed failure."""
        adjusted, _stale = self._single(result)
        return expected_failure_reason(adjusted.checks[0])

    def stale_for(self, result: CheckResult) -> StaleEntry | None:
        """A stale entry naming exactly this check. Pattern entries are judged at session
        end only: one passing match does not make ``cache.*`` stale while another fails."""
        _adjusted, stale = self._single(result)
        for entry in stale:
            if entry.entry.check == result.id:
                return entry
        return None

    def run_result(self) -> RunResult:
        """Everything that ran, in run order."""
        duration = time.monotonic() - self.started if self.results else 0.0
        return RunResult(
            checks=resolve(list(self.results.values())),
            started_at=self.started_at or datetime.datetime.now(datetime.UTC).isoformat(),
            duration_s=round(duration, 3),
            target=dict(self.source.target()),
        )

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so that they apply to checks
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Add the suite's check items."""
        # Our items come from no file, so they are added here rather than by a file
        # collector; the explicit node id keeps them at "responses-ws::<check id>".
        collector = _SuiteCollector.from_parent(
            session, name="responses-ws", nodeid="responses-ws", session_plugin=self
        )
        checks = collector.collect()
        # Report the collection as pytest does for files, so "collected N items" counts them.
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(collector.nodeid, "passed", None, list(checks))
        )
        items.extend(checks)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the reports; fail the session on stale entries or a vacuous run."""
        if not self.results:
            return  # nothing ran (collect-only, or everything deselected): pytest says so
        run, self.stale = apply_expected_failures(self.run_result(), self.baseline)
        if self.settings.report_dir is not None:
            from conformance.reports import write_reports

            self.written = write_reports(run, self.settings.report_dir, stale=self.stale)
        if exit_reasons(run, self.stale) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Verdict counts, warnings, stale and unmatched entries, report paths."""
        if not self.results:
            return
        run = self.run_result()
        tr = terminalreporter
        tr.section("responses-ws conformance")
        counts: dict[str, int] = {}
        for result in run.checks:
            counts[result.verdict.value] = counts.get(result.verdict.value, 0) + 1
        tr.write_line(
            f"{len(run.checks)} checks against {self.settings.server_url}: "
            + ", ".join(f"{n} {v}" for v, n in counts.items())
        )
        for result in run.checks:
            if result.verdict is Verdict.WARNING:
                first = result.message.splitlines()[0] if result.message else ""
                tr.write_line(f"WARNING {result.id}: {first}")
        for stale in self.stale:
            tr.write_line(f"STALE {stale.message}", red=True)
        for entry in unmatched_entries(run, self.baseline):
            tr.write_line(f"expected-failures entry matched no check that ran: {entry.describe()}")
        for reason in exit_reasons(*apply_expected_failures(run, self.baseline)):
            tr.write_line(f"run fails: {reason}")
        for name, path in self.written.items():
            tr.write_line(f"{name}: {path}")


def client_source(config: pytest.Config) -> tuple[SuiteOptions, SuiteSource] | None:
    """Settings and source for ``--rws-client-cmd``, or ``None`` without it."""
    command = config.getoption("rws_client_cmd")
    if not command:
        return None
    from conformance.clientsuite.pytest_source import ClientSuiteSource
    from conformance.clientsuite.runner import ClientUnderTest

    profiles: list[str] = []
    for value in config.getoption("rws_client_profile") or ():
        profiles.extend(p.strip() for p in str(value).split(",") if p.strip())
    name = str(config.getoption("rws_client_name"))
    client = ClientUnderTest(name, str(command), frozenset(profiles or ["core"]))
    baseline = config.getoption("rws_expected_failures")
    report_dir = config.getoption("rws_report_dir")
    settings = SuiteOptions(
        server_url=f"client {name}",
        expected_failures=Path(baseline) if baseline else None,
        report_dir=Path(report_dir) if report_dir else None,
    )
    return settings, ClientSuiteSource(client, config.getoption("rws_model") or "conformance-1")

"""The pytest plugin of the conformance suite (registered as the ``pytest11`` entry point
``responses_ws``): run the server suite as pytest items.

Usage::

    pytest --pyargs conformance --rws-server-url ws://127.0.0.1:8080 --rws-report-dir out
    pytest -p responses_ws --rws-server-url ws://... --rws-expected-failures baseline.yaml

Because the entry point loads the plugin into *every* pytest run of anyone who installs the
package, it does nothing at all unless ``--rws-server-url`` is given: it only adds its
options. With the option, a session object is registered that

* collects one :class:`CheckItem` per suite check (under the node ``responses-ws``), taken as
  data from a :class:`SuiteSource` - by default the harness's scenario registry; a
  ``conftest.py`` can supply another through the ``pytest_rws_suite_source`` hook;
* runs each check when its item runs and maps the verdict: FAILED -> failure (expected vs
  actual and the wire log), FAILED but listed in the expected-failures file -> xfail,
  WARNING and INFORMATIONAL -> pass with a report section and ``user_properties`` (never a
  Python warning: this project's pytest turns warnings into errors, and so may yours),
  SKIPPED -> skip with the reason; a check named by a stale expected-failures entry fails;
* at the end writes ``report.json``, ``junit.xml`` and ``report.html`` into
  ``--rws-report-dir`` and fails the session when an expected-failures entry is stale or
  every check was skipped (a vacuous run must not read as green).

With ``--rws-client-cmd CMD`` (instead of ``--rws-server-url``) the same session runs the
client suite (``responses-ws check-client``): one item per client scenario, the client
program run against a scripted server (docs/client-adapters.md).

With ``--rws-fuzz {stateless,stateful,both}`` (and ``--rws-server-url``) the session runs the
fuzzer of ``responses-ws fuzz`` instead of the suite: one :class:`FuzzItem` per mode
(``responses-ws-fuzz::stateless``, ``responses-ws-fuzz::stateful``), failing with the
failing requirement, the shrunk transcript's path and the ``responses-ws validate`` command
that replays it; ``fuzz-report.json`` is written into ``--rws-fuzz-out``.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from conformance.baseline import (
    BaselineError,
    ExpectedFailure,
    StaleEntry,
    apply_expected_failures,
    exit_reasons,
    expected_failure_reason,
    load_expected_failures,
    unmatched_entries,
)
from conformance.results import CheckResult, RunResult, Verdict

__all__ = [
    "CheckFailedError",
    "CheckItem",
    "CheckSpec",
    "FuzzFindingError",
    "FuzzItem",
    "FuzzSettings",
    "FuzzUnreachableError",
    "HarnessSource",
    "RwsFuzzSession",
    "RwsSession",
    "RwsSettings",
    "StaleExpectedFailureError",
    "SuiteSource",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
]

# How many wire records a pytest failure shows (the full log is in the reports).
_WIRE_TAIL = 20
_SESSION_NAME = "responses_ws_session"
_FUZZ_SESSION_NAME = "responses_ws_fuzz_session"


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


@dataclass(frozen=True)
class RwsSettings:
    """The plugin's options."""

    server_url: str
    api_key: str | None = None
    api_key2: str | None = None
    model: str | None = None
    profiles: tuple[str, ...] = ()
    expected_failures: Path | None = None
    report_dir: Path | None = None
    timeout: float | None = None
    parameters: tuple[tuple[str, str], ...] = ()  # declared server parameters
    quiet_period: float | None = None
    single_key: bool = False
    test_connection_age: float | None = None
    age_limit_url: str | None = None
    test_idle_timeout: float | None = None
    idle_limit_url: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> RwsSettings | None:
        """The settings, or ``None`` when ``--rws-server-url`` is absent."""
        url = config.getoption("rws_server_url")
        if not url:
            return None
        profiles: list[str] = []
        for value in config.getoption("rws_profile") or ():
            profiles.extend(p.strip() for p in str(value).split(",") if p.strip())
        parameters: list[tuple[str, str]] = []
        for pair in config.getoption("rws_server_param") or ():
            name, sep, value = str(pair).partition("=")
            if not sep or not name.strip():
                raise pytest.UsageError(f"--rws-server-param expects NAME=VALUE, got {pair!r}")
            parameters.append((name.strip(), value.strip()))
        baseline = config.getoption("rws_expected_failures")
        report_dir = config.getoption("rws_report_dir")
        return cls(
            server_url=str(url),
            # The key may come from the environment so that it stays out of shell history.
            api_key=config.getoption("rws_api_key") or os.environ.get("RWS_API_KEY") or None,
            api_key2=config.getoption("rws_api_key2") or os.environ.get("RWS_API_KEY2") or None,
            model=config.getoption("rws_model"),
            profiles=tuple(dict.fromkeys(profiles)),
            expected_failures=Path(baseline) if baseline else None,
            report_dir=Path(report_dir) if report_dir else None,
            timeout=config.getoption("rws_timeout"),
            parameters=tuple(parameters),
            quiet_period=config.getoption("rws_quiet_period"),
            single_key=bool(config.getoption("rws_single_key")),
            test_connection_age=config.getoption("rws_test_connection_age"),
            age_limit_url=config.getoption("rws_age_limit_url"),
            test_idle_timeout=config.getoption("rws_test_idle_timeout"),
            idle_limit_url=config.getoption("rws_idle_limit_url"),
        )


class HarnessSource:
    """The default source: the harness's scenarios (``conformance.scenarios``), each run in
    its own trio run. Defaults follow ``responses-ws check``: model ``conformance-1``, and
    profiles ``core`` plus ``conformance-model`` when that model is used."""

    def __init__(self, settings: RwsSettings) -> None:
        # Imported here, not at module level: the plugin module is imported by every pytest
        # run, and the harness pulls in trio, websockets and the checker.
        from conformance.harness.config import (
            CONFORMANCE_MODEL,
            DEFAULT_PARAMETERS,
            DEFAULT_QUIET_PERIOD,
            DEFAULT_TIMEOUT,
            SuiteConfig,
            env_float,
        )
        from conformance.requirements import load_requirements
        from conformance.scenarios import all_scenarios

        model = settings.model or CONFORMANCE_MODEL
        default_profiles = {"core", "conformance-model"} if model == CONFORMANCE_MODEL else {"core"}
        self.config = SuiteConfig(
            server_url=settings.server_url,
            api_key=settings.api_key,
            api_key2=settings.api_key2,
            model=model,
            profiles=frozenset(settings.profiles or default_profiles),
            parameters={**DEFAULT_PARAMETERS, **dict(settings.parameters)},
            timeout=settings.timeout or env_float("RWS_TIMEOUT", DEFAULT_TIMEOUT),
            quiet_period=settings.quiet_period
            or env_float("RWS_QUIET_PERIOD", DEFAULT_QUIET_PERIOD),
            single_key=settings.single_key,
            test_connection_age=settings.test_connection_age,
            age_limit_url=settings.age_limit_url,
            test_idle_timeout=settings.test_idle_timeout,
            idle_limit_url=settings.idle_limit_url,
        )
        self.scenarios = {scn.id: scn for scn in all_scenarios()}
        self.requirements = load_requirements()

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


class CheckItem(pytest.Item):
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
        """Run one check and keep its result for the reports."""
        if not self.results:
            self.started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            self.started = time.monotonic()
        result = self.source.run_check(check_id)
        self.results[check_id] = result
        return result

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
            checks=tuple(self.results.values()),
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


# --- the fuzzer (``--rws-fuzz``) ---------------------------------------------------------

# What a fuzz failure message names (the oracle writes "(RWS-CREATE-12)", "RWS-CACHE-2: ...").
_REQUIREMENT_ID = re.compile(r"RWS-[A-Z]+-\d+")


@dataclass(frozen=True)
class FuzzSettings:
    """The ``--rws-fuzz*`` options: what ``responses-ws fuzz`` takes as flags."""

    modes: tuple[str, ...]  # "stateless", "stateful", or both in that order
    profile: str  # the settings profile: dev, ci or nightly
    out_dir: Path
    max_examples: int | None = None
    seed: int | None = None
    known: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: pytest.Config) -> FuzzSettings | None:
        """The settings, or ``None`` when ``--rws-fuzz`` is absent."""
        mode = config.getoption("rws_fuzz")
        if not mode:
            return None
        # Imported only now: the fuzzer pulls in websockets and the checker (not when inert).
        from conformance.fuzz.profiles import profile_name

        try:
            profile = profile_name(config.getoption("rws_fuzz_profile"))
        except ValueError as exc:
            raise pytest.UsageError(f"--rws-fuzz-profile: {exc}") from exc
        max_examples = config.getoption("rws_fuzz_max_examples")
        if max_examples is not None and max_examples < 1:
            raise pytest.UsageError(f"--rws-fuzz-max-examples must be at least 1: {max_examples}")
        out = Path(config.getoption("rws_fuzz_out"))
        known = tuple(str(p) for p in config.getoption("rws_fuzz_known_failure") or ())
        for pattern in known:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise pytest.UsageError(f"--rws-fuzz-known-failure {pattern!r}: {exc}") from exc
        return cls(
            modes=("stateless", "stateful") if mode == "both" else (str(mode),),
            profile=profile,
            # Relative to where pytest was started, as the command's --out is.
            out_dir=out if out.is_absolute() else config.invocation_params.dir / out,
            max_examples=max_examples,
            seed=config.getoption("rws_fuzz_seed"),
            known=known,
        )


def _fuzz_target(settings: RwsSettings) -> Any:
    """The fuzzer's ``Target`` for the plugin's settings (same defaults as the suite)."""
    from conformance.fuzz.client import Target
    from conformance.harness.config import CONFORMANCE_MODEL, env_float, responses_url

    model = settings.model or CONFORMANCE_MODEL
    default_profiles = {"core", "conformance-model"} if model == CONFORMANCE_MODEL else {"core"}
    parameters = dict(settings.parameters)
    return Target(
        url=responses_url(settings.server_url),
        api_key=settings.api_key,
        model=model,
        profiles=frozenset(settings.profiles or default_profiles),
        timeout=settings.timeout or env_float("RWS_TIMEOUT", 5.0),
        # RWS-LANE-2: the oracle judges a busy lane by the declared policy.
        busy_lane=parameters.get("busy-lane", "queue"),
        api_key2=settings.api_key2,
    )


class FuzzFindingError(Exception):
    """The fuzzer found a failure; carries the report and what to show about it."""

    def __init__(self, report: Any, requirements: tuple[str, ...], replay: str | None) -> None:
        super().__init__(report.failure)
        self.report = report
        self.requirements = requirements
        self.replay = replay


class FuzzUnreachableError(Exception):
    """The server could not be reached: a setup failure, not something to shrink."""


def _failing_requirements(
    failure: str, transcript: Path | None, profiles: frozenset[str]
) -> tuple[str, ...]:
    """The requirements a fuzz failure breaks: those its message names, else the server
    requirements the checker finds FAILED when it replays the transcript (what
    ``responses-ws validate`` would report)."""
    named = tuple(dict.fromkeys(_REQUIREMENT_ID.findall(failure)))
    if named or transcript is None:
        return named
    from conformance.checker import Checker, CheckerConfig
    from conformance.transcript import read_jsonl

    try:
        records = list(read_jsonl(transcript))
    except OSError:
        return ()
    checker = Checker(CheckerConfig.make(profiles=profiles, roles=("server",)))
    report = checker.feed_all(records)
    return tuple(
        dict.fromkeys(
            f.requirement for f in report.findings if f.verdict is Verdict.FAILED and f.requirement
        )
    )


class FuzzItem(pytest.Item):
    """One fuzzing mode (stateless or stateful) as a pytest item."""

    def __init__(self, *, mode: str, session_plugin: RwsFuzzSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.session_plugin = session_plugin

    def runtest(self) -> None:
        """Run the fuzzer of this mode; fail with the shrunk failure when it finds one."""
        report = self.session_plugin.run(self.mode)
        unit = "examples" if self.mode == "stateless" else "sessions"
        self.user_properties.append((f"rws_fuzz_{unit}", str(report.examples)))
        if report.ok:
            # A section, not warnings.warn(): warnings are errors under filterwarnings=error.
            self.add_report_section("call", "responses-ws fuzz", report.summary())
            return
        from conformance.fuzz.run import replay_command

        target = self.session_plugin.target
        requirements = _failing_requirements(
            report.failure or "", report.transcript, target.profiles
        )
        replay = (
            replay_command(report.transcript, target.profiles)
            if report.transcript is not None
            else None
        )
        self.user_properties.append(("rws_requirements", " ".join(requirements)))
        if report.transcript is not None:
            self.user_properties.append(("rws_fuzz_transcript", str(report.transcript)))
        if replay is not None:
            self.user_properties.append(("rws_fuzz_replay", replay))
        raise FuzzFindingError(report, requirements, replay)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """The finding, the minimal example, its transcript and the replay command."""
        if isinstance(excinfo.value, FuzzFindingError):
            error = excinfo.value
            named = " ".join(error.requirements) or "no requirement named"
            where = error.report.transcript or "no transcript was recorded"
            # The first line is what -r's short summary shows: the requirement and the file.
            lines = [f"{self.mode} fuzzing FAILED [{named}]: {where}", error.report.summary()]
            if error.replay is not None:
                lines.append(f"replay: {error.replay}")
            return "\n".join(lines)
        if isinstance(excinfo.value, FuzzUnreachableError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item "is": the fuzz mode."""
        return self.path, None, f"responses-ws fuzz --{self.mode}"


class _FuzzCollector(pytest.Collector):
    """The node the fuzz items hang under (node id ``responses-ws-fuzz``)."""

    def __init__(self, *, session_plugin: RwsFuzzSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_plugin = session_plugin

    def collect(self) -> list[pytest.Item]:
        """One item per fuzz mode."""
        return [
            FuzzItem.from_parent(self, name=mode, mode=mode, session_plugin=self.session_plugin)
            for mode in self.session_plugin.fuzz.modes
        ]


@dataclass
class RwsFuzzSession:
    """The plugin's state for a ``--rws-fuzz`` session; registered only with that option."""

    settings: RwsSettings
    fuzz: FuzzSettings
    target: Any  # conformance.fuzz.client.Target, imported lazily
    reports: list[Any] = field(default_factory=list)  # conformance.fuzz.result.FuzzReport
    report_path: Path | None = None

    def run(self, mode: str) -> Any:
        """Run the fuzzer of ``mode`` and keep its report."""
        from conformance.fuzz.client import Tape, Unreachable, WireClient
        from conformance.fuzz.run import fuzz

        try:
            # Fail fast on a server that cannot be reached, as the command does, rather than
            # letting Hypothesis "shrink" a connection error.
            WireClient(self.target, Tape()).close()
        except Unreachable as exc:
            raise FuzzUnreachableError(f"{self.target.url}: {exc}") from exc
        (report,) = fuzz(
            self.target,
            mode=mode,
            profile=self.fuzz.profile,
            out_dir=self.fuzz.out_dir,
            max_examples=self.fuzz.max_examples,
            seed=self.fuzz.seed,
            known=self.fuzz.known,
        )
        self.reports.append(report)
        self.write_report()
        return report

    def write_report(self) -> None:
        """``fuzz-report.json`` with every mode run so far (each run of ``fuzz()`` writes
        only its own; with ``both`` the second would hide the first)."""
        import json

        from conformance.fuzz.run import report_json

        self.fuzz.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.fuzz.out_dir / "fuzz-report.json"
        path.write_text(
            json.dumps(report_json(self.reports, self.target), indent=2) + "\n", encoding="utf-8"
        )
        self.report_path = path

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so that they apply to modes
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Add one item per fuzz mode."""
        collector = _FuzzCollector.from_parent(
            session, name="responses-ws-fuzz", nodeid="responses-ws-fuzz", session_plugin=self
        )
        modes = collector.collect()
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(collector.nodeid, "passed", None, list(modes))
        )
        items.extend(modes)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Each mode's summary, the replay commands and the report's path."""
        if not self.reports:
            return
        from conformance.fuzz.run import replay_command

        tr = terminalreporter
        tr.section("responses-ws fuzz")
        tr.write_line(
            f"fuzzed {self.target.url} with model {self.target.model!r}, profiles "
            f"{', '.join(sorted(self.target.profiles))}, settings profile {self.fuzz.profile}"
        )
        for report in self.reports:
            # The failure itself (with the minimal example) is in the item's failure section.
            if report.ok:
                tr.write_line(report.summary())
            else:
                tr.write_line(report.summary().splitlines()[0], red=True)
                tr.write_line(f"  {report.failure}")
            if report.transcript is not None:
                tr.write_line(
                    f"  minimal transcript ({report.records} records): {report.transcript}"
                )
                tr.write_line(
                    f"  replay: {replay_command(report.transcript, self.target.profiles)}"
                )
        if self.report_path is not None:
            tr.write_line(f"fuzz-report.json: {self.report_path}")


def _configure_fuzz(config: pytest.Config, settings: RwsSettings | None) -> None:
    """Register the fuzz session for ``--rws-fuzz`` (which needs ``--rws-server-url``)."""
    fuzz = FuzzSettings.from_config(config)
    if fuzz is None:
        return
    if settings is None:
        raise pytest.UsageError("--rws-fuzz needs --rws-server-url (the server to fuzz)")
    if config.getoption("rws_client_cmd"):
        raise pytest.UsageError(
            "--rws-fuzz fuzzes a server; it cannot be combined with --rws-client-cmd"
        )
    config.pluginmanager.register(
        RwsFuzzSession(settings=settings, fuzz=fuzz, target=_fuzz_target(settings)),
        _FUZZ_SESSION_NAME,
    )


def _addoptions_of_fuzz(group: Any) -> None:
    """The fuzzer (``responses-ws fuzz``): run it instead of the suite."""
    group.addoption(
        "--rws-fuzz",
        choices=("stateless", "stateful", "both"),
        default=None,
        help="fuzz the server of --rws-server-url (one item per mode) instead of running the "
        "conformance suite",
    )
    group.addoption(
        "--rws-fuzz-profile",
        default=None,
        metavar="NAME",
        help="the fuzzer's settings profile: dev, ci (derandomized) or nightly "
        "(default: $RWS_FUZZ_PROFILE or dev)",
    )
    group.addoption(
        "--rws-fuzz-max-examples",
        type=int,
        default=None,
        metavar="N",
        help="stateless examples, or stateful sessions (default: from the profile)",
    )
    group.addoption(
        "--rws-fuzz-seed",
        type=int,
        default=None,
        metavar="S",
        help="Hypothesis seed, to repeat a run",
    )
    group.addoption(
        "--rws-fuzz-out",
        default="fuzz-out",
        metavar="DIR",
        help="folder for fuzz-report.json and failure transcripts (default: fuzz-out)",
    )
    group.addoption(
        "--rws-fuzz-known-failure",
        action="append",
        default=[],
        metavar="REGEX",
        help="tolerate fuzz failures whose message matches (repeatable)",
    )


class _HookSpecs:
    """The plugin's own hook."""

    @pytest.hookspec(firstresult=True)
    def pytest_rws_suite_source(
        self, config: pytest.Config, settings: RwsSettings
    ) -> SuiteSource | None:
        """Return the source of checks to run instead of the harness's scenario registry."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register ``pytest_rws_suite_source``."""
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--rws-*`` options (the only thing the plugin does without ``--rws-server-url``)."""
    group = parser.getgroup("responses-ws", "responses-ws conformance suite")
    group.addoption(
        "--rws-server-url",
        default=None,
        help="run the server conformance suite against this base URL (ws://host:port)",
    )
    group.addoption(
        "--rws-api-key", default=None, help="API key for the server (default: $RWS_API_KEY)"
    )
    group.addoption(
        "--rws-api-key2",
        default=None,
        help="a second API key the server accepts, for RWS-LIMIT-5 (default: $RWS_API_KEY2)",
    )
    group.addoption(
        "--rws-server-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server parameter the server declares (repeatable), e.g. busy-lane=reject",
    )
    group.addoption("--rws-model", default=None, help="model to request (default: conformance-1)")
    group.addoption(
        "--rws-profile",
        action="append",
        default=[],
        help="a profile the server declares (repeatable or comma-separated; default: core, "
        "plus conformance-model with the model conformance-1)",
    )
    group.addoption(
        "--rws-expected-failures", default=None, help="expected-failures (baseline) YAML file"
    )
    group.addoption(
        "--rws-report-dir",
        default=None,
        help="write report.json, junit.xml and report.html into this folder",
    )
    group.addoption(
        "--rws-timeout",
        type=float,
        default=None,
        help="seconds to wait for what the server owes (default: $RWS_TIMEOUT or 5)",
    )
    _addoptions_of_check(group)
    _addoptions_of_client(group)
    _addoptions_of_fuzz(group)


def _addoptions_of_client(group: Any) -> None:
    """The client suite (``responses-ws check-client``): run it instead of the server suite."""
    group.addoption(
        "--rws-client-cmd",
        default=None,
        metavar="CMD",
        help="run the client conformance suite against this client program (an adapter, "
        "docs/client-adapters.md) instead of the server suite",
    )
    group.addoption(
        "--rws-client-name",
        default="client",
        help="the client's name in check ids and reports (default: client)",
    )
    group.addoption(
        "--rws-client-profile",
        action="append",
        default=[],
        help="a profile the client declares (repeatable or comma-separated; default: core)",
    )


def _client_source(config: pytest.Config) -> tuple[RwsSettings, SuiteSource] | None:
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
    settings = RwsSettings(
        server_url=f"client {name}",
        expected_failures=Path(baseline) if baseline else None,
        report_dir=Path(report_dir) if report_dir else None,
    )
    return settings, ClientSuiteSource(client, config.getoption("rws_model") or "conformance-1")


def _addoptions_of_check(group: Any) -> None:
    """The rarer settings of ``responses-ws check``, with the same meaning."""
    group.addoption(
        "--rws-quiet-period",
        type=float,
        default=None,
        help="seconds to watch for what the server must not do (default: $RWS_QUIET_PERIOD or 0.3)",
    )
    group.addoption(
        "--rws-single-key",
        action="store_true",
        default=False,
        help="only one API key exists: RWS-LIMIT-5 is SKIPPED instead of FAILED",
    )
    group.addoption(
        "--rws-test-connection-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the server (or --rws-age-limit-url) runs with this short max-connection-age; "
        "enables the RWS-LIMIT-1/2 checks",
    )
    group.addoption(
        "--rws-age-limit-url",
        default=None,
        help="a second instance of the server started with --rws-test-connection-age",
    )
    group.addoption(
        "--rws-test-idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the server (or --rws-idle-limit-url) runs with this short idle-timeout; "
        "enables the RWS-LIMIT-4 checks",
    )
    group.addoption(
        "--rws-idle-limit-url",
        default=None,
        help="an instance of the server started with --rws-test-idle-timeout",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the session plugin, only when ``--rws-server-url`` is given."""
    settings = RwsSettings.from_config(config)
    if config.getoption("rws_fuzz"):
        _configure_fuzz(config, settings)
        return
    client = _client_source(config) if settings is None else None
    if client is not None:
        settings = client[0]
    if settings is None:
        return
    baseline: tuple[ExpectedFailure, ...] = ()
    if settings.expected_failures is not None:
        try:
            baseline = load_expected_failures(settings.expected_failures)
        except (OSError, BaselineError) as exc:
            raise pytest.UsageError(f"--rws-expected-failures: {exc}") from exc
    source: SuiteSource | None = config.hook.pytest_rws_suite_source(
        config=config, settings=settings
    )
    if client is not None:
        source = client[1]
    elif source is None:
        source = HarnessSource(settings)
    config.pluginmanager.register(
        RwsSession(config=config, settings=settings, source=source, baseline=baseline),
        _SESSION_NAME,
    )

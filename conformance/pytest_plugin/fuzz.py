"""The fuzzer of ``responses-ws fuzz`` as pytest items (``--rws-fuzz``): one
:class:`FuzzItem` per mode (``responses-ws-fuzz::stateless``, ``responses-ws-fuzz::stateful``),
failing with the failing requirement, the shrunk transcript's path and the
``responses-ws validate`` command that replays it; ``fuzz-report.json`` is written into
``--rws-fuzz-out``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.pytest_plugin._item import SyncItem
from conformance.results import Verdict
from conformance.suite_options import CONFORMANCE_MODEL, SuiteOptions, default_profiles

__all__ = [
    "FuzzFindingError",
    "FuzzItem",
    "FuzzSettings",
    "FuzzUnreachableError",
    "RwsFuzzSession",
    "add_fuzz_options",
    "configure_fuzz",
]

_FUZZ_SESSION_NAME = "responses_ws_fuzz_session"
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


def _fuzz_target(settings: SuiteOptions) -> Any:
    """The fuzzer's ``Target`` for the plugin's settings (the suite's defaults, from
    conformance/suite_options.py; like ``responses-ws fuzz``, the model is not probed)."""
    from conformance.fuzz.client import Target
    from conformance.harness.config import responses_url

    assert settings.server_url is not None
    model = settings.model or CONFORMANCE_MODEL
    parameters = dict(settings.parameters)
    return Target(
        url=responses_url(settings.server_url),
        api_key=settings.api_key,
        model=model,
        profiles=frozenset(settings.profiles) or default_profiles(model),
        timeout=settings.timeout,
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


class FuzzItem(SyncItem):
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

    settings: SuiteOptions
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


def configure_fuzz(config: pytest.Config, settings: SuiteOptions | None) -> None:
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


def add_fuzz_options(addoption: Callable[..., object]) -> None:
    """The fuzzer (``responses-ws fuzz``): run it instead of the suite."""
    addoption(
        "--rws-fuzz",
        choices=("stateless", "stateful", "both"),
        default=None,
        help="fuzz the server of --rws-server-url (one item per mode) instead of running the "
        "conformance suite",
    )
    addoption(
        "--rws-fuzz-profile",
        default=None,
        metavar="NAME",
        help="the fuzzer's settings profile: dev, ci (derandomized) or nightly "
        "(default: $RWS_FUZZ_PROFILE or dev)",
    )
    addoption(
        "--rws-fuzz-max-examples",
        type=int,
        default=None,
        metavar="N",
        help="stateless examples, or stateful sessions (default: from the profile)",
    )
    addoption(
        "--rws-fuzz-seed",
        type=int,
        default=None,
        metavar="S",
        help="Hypothesis seed, to repeat a run",
    )
    addoption(
        "--rws-fuzz-out",
        default="fuzz-out",
        metavar="DIR",
        help="folder for fuzz-report.json and failure transcripts (default: fuzz-out)",
    )
    addoption(
        "--rws-fuzz-known-failure",
        action="append",
        default=[],
        metavar="REGEX",
        help="tolerate fuzz failures whose message matches (repeatable)",
    )

"""The pytest plugin and ``responses-ws check`` agree: the same options read into the same
settings (one table, conformance/suite_options.py), and against one reference server the same
verdict for every check - from pytest run inside this checkout (whose pytest settings turn
pytest-trio's trio_mode on) and from another folder."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import build_parser, main
from conformance.commands.check import options_from_args
from conformance.harness.config import DEFAULT_PARAMETERS
from conformance.harness.spawn import SpawnedServer, spawn_reference
from conformance.pytest_plugin.suite import settings_from_config
from conformance.scenarios import all_scenarios
from conformance.suite_options import OPTIONS, SuiteOptions

pytest_plugins = ["pytester"]

__all__: list[str] = []

REPO_ROOT = Path(__file__).resolve().parents[2]
# Nothing listens on the discard port of loopback.
URL = "ws://127.0.0.1:9"
# Registered now, at import: pytester restores sys.modules after each test, and the command
# run inside one would otherwise import (and register) the scenarios a second time.
SCENARIOS = all_scenarios()

# Option lists in the command's spelling; the plugin gets each option prefixed --rws-.
EVERY_OPTION = [
    "--api-key=k1",
    "--api-key2=k2",
    "--single-key",
    "--model=m-1",
    "--profile=core,multiplex",
    "--profile=steering",
    "--server-param=busy-lane=reject",
    "--server-param=idle-timeout=2",
    "--timeout=2.5",
    "--quiet-period=0.1",
    "--test-connection-age=3",
    "--age-limit-url=ws://aged:2",
    "--test-idle-timeout=1.5",
    "--idle-limit-url=ws://idle:3",
    "--no-steering-url=ws://plain:4",
    "--expected-failures=baseline.yaml",
    "--report-dir=out",
]
CASES = {
    "defaults": [],
    "every option": EVERY_OPTION,
    # `--api-key2 "$KEY2"` with KEY2 unset: no second key, not the key "".
    "empty second key": ["--api-key=k1", "--api-key2="],
}


def command_options(options: list[str]) -> SuiteOptions:
    args = build_parser().parse_args(["check", f"--server-url={URL}", *options])
    return options_from_args(args)


def plugin_options(pytester: pytest.Pytester, options: list[str]) -> SuiteOptions | None:
    prefixed = ["--rws-" + option.removeprefix("--") for option in options]
    config = pytester.parseconfig(f"--rws-server-url={URL}", *prefixed)
    return settings_from_config(config)


def test_every_option_of_the_table_is_in_the_cases() -> None:
    named = {option.removeprefix("--").split("=", 1)[0] for option in EVERY_OPTION}
    assert named == {spec.flag for spec in OPTIONS}


def test_the_server_param_help_names_every_declarable_parameter() -> None:
    (spec,) = (spec for spec in OPTIONS if spec.flag == "server-param")
    for name in [*DEFAULT_PARAMETERS, "idle-timeout"]:
        assert name in spec.help


@pytest.mark.parametrize("case", list(CASES))
def test_command_and_plugin_read_the_same_options_into_the_same_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    for name in ("RWS_API_KEY", "RWS_API_KEY2", "RWS_TIMEOUT", "RWS_QUIET_PERIOD"):
        monkeypatch.delenv(name, raising=False)
    options = CASES[case]
    assert plugin_options(pytester, options) == command_options(options)


def test_both_take_keys_and_timeouts_from_the_environment_alike(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RWS_API_KEY2", "env-k2")
    monkeypatch.setenv("RWS_TIMEOUT", "7")
    monkeypatch.delenv("RWS_API_KEY", raising=False)
    monkeypatch.delenv("RWS_QUIET_PERIOD", raising=False)
    settings = command_options(["--api-key2="])
    assert plugin_options(pytester, ["--api-key2="]) == settings
    assert (settings.api_key2, settings.timeout, settings.quiet_period) == ("env-k2", 7.0, 0.3)


def test_both_refuse_a_timeout_that_is_not_positive(pytester: pytest.Pytester) -> None:
    status = main(["check", f"--server-url={URL}", "--timeout=0"])
    assert status == 2
    result = pytester.runpytest(f"--rws-server-url={URL}", "--rws-timeout=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--rws-timeout must be a positive number of seconds*"])


def test_both_stop_without_verdicts_when_the_model_cannot_be_chosen(
    pytester: pytest.Pytester,
) -> None:
    """No server listens: the command and the plugin stop before any check, saying so
    (the plugin used to assume conformance-1 and fail every check instead)."""
    with pytest.raises(SystemExit, match="responses-ws check: cannot open"):
        main(["check", f"--server-url={URL}", "--check=handshake.upgrade-101"])
    out = pytester.path / "out"
    result = pytester.runpytest(
        f"--rws-server-url={URL}", "-k", "handshake.upgrade-101", f"--rws-report-dir={out}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*responses-ws: cannot open ws://127.0.0.1:9/v1/responses*"])
    assert not out.exists()


@pytest.fixture(scope="module")
def reference() -> Iterator[SpawnedServer]:
    # The profiles the runs declare leave out steering: so does the server.
    with spawn_reference(["--no-steering"]) as server:
        yield server


def verdicts(report_dir: Path) -> tuple[dict[str, str], dict[str, Any]]:
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    target = {k: v for k, v in report["target"].items() if k not in ("runner", "jobs")}
    return {check["id"]: check["verdict"] for check in report["checks"]}, target


@pytest.mark.slow
def test_pytest_in_the_checkout_and_elsewhere_gives_the_verdicts_of_the_command(
    reference: SpawnedServer, tmp_path: Path
) -> None:
    """One reference server, one set of options: ``responses-ws check``, and ``pytest
    --pyargs conformance`` run in this checkout and in an empty folder, report the same
    configuration and the same verdict for every check (timings aside). The checkout's pytest
    settings turn pytest-trio's trio_mode on, which crashed the plugin there."""
    assert "trio_mode = true" in (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    key, key2 = reference.api_keys
    common = {
        "server-url": reference.url,
        "api-key": key,
        "api-key2": key2,
        "profile": "core,multiplex,conformance-model",
    }
    cli = [f"--{name}={value}" for name, value in common.items()]
    plugin = [f"--rws-{name}={value}" for name, value in common.items()]
    command = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "check", *cli, f"--report-dir={tmp_path}/cli"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert command.returncode == 0, command.stdout + command.stderr
    expected, target = verdicts(tmp_path / "cli")
    assert set(expected) == {scn.id for scn in SCENARIOS}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pytest_argv = [sys.executable, "-m", "pytest", "--pyargs", "conformance", *plugin]
    for where, cwd in (("checkout", REPO_ROOT), ("elsewhere", elsewhere)):
        run = subprocess.run(
            [*pytest_argv, "-p", "no:cacheprovider", f"--rws-report-dir={tmp_path / where}"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert "INTERNALERROR" not in run.stdout + run.stderr, run.stdout + run.stderr
        assert run.returncode == 0, run.stdout + run.stderr
        got, got_target = verdicts(tmp_path / where)
        assert got_target == target, where
        assert got == expected, where

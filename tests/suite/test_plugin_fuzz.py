"""Tests of the pytest plugin's ``--rws-fuzz``: the fuzzer of ``responses-ws fuzz`` as one
pytest item per mode, in inner pytest sessions (``pytester``).

Without the option the plugin stays inert; with it and no server the options are refused;
against the reference server (a separate program) a small run passes and writes
``fuzz-report.json``; against its ``crash-on-deep-input`` fault the stateless item fails
naming the requirement, the shrunk transcript and a replay command that works.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.harness.spawn import SpawnedServer, spawn_reference
from conformance.pytest_plugin.fuzz import _failing_requirements
from tests.suite.reference_server import fault_table

pytest_plugins = ["pytester"]

__all__: list[str] = []

# Warnings are errors in the inner sessions too: the plugin must never emit one.
INI = "[pytest]\nfilterwarnings =\n    error\n"
FAULT = "crash-on-deep-input"


def plain_project(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_user="def test_one():\n    assert True\n")


def server_args(server: SpawnedServer) -> list[str]:
    return [
        f"--rws-server-url={server.url}",
        f"--rws-api-key={server.api_keys[0]}",
        f"--rws-api-key2={server.api_keys[1]}",
        "--rws-profile=core,multiplex,conformance-model",
        "-p",
        "no:cacheprovider",
    ]


class TestWithoutAReferenceServer:
    def test_plugin_is_inert_without_rws_fuzz(self, pytester: pytest.Pytester) -> None:
        """The fuzz settings alone change nothing: no item, no fuzzer import, no output."""
        plain_project(pytester)
        pytester.makepyfile(
            test_modules="""
            import sys

            def test_fuzzer_not_loaded():
                assert "conformance.pytest_plugin" in sys.modules
                assert "conformance.fuzz" not in sys.modules
                assert "conformance.fuzz.run" not in sys.modules
            """
        )
        result = pytester.runpytest_subprocess(
            "-p", "responses_ws", "--rws-fuzz-profile=ci", "--rws-fuzz-max-examples=3"
        )
        result.assert_outcomes(passed=2)
        assert "responses-ws-fuzz" not in result.stdout.str()
        assert not (pytester.path / "fuzz-out").exists()

    def test_fuzz_options_are_listed_in_help(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--help")
        out = result.stdout.str()
        for option in (
            "--rws-fuzz=",
            "--rws-fuzz-profile",
            "--rws-fuzz-max-examples",
            "--rws-fuzz-seed",
            "--rws-fuzz-out",
            "--rws-fuzz-known-failure",
        ):
            assert option in out

    def test_rws_fuzz_without_server_url_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        plain_project(pytester)
        result = pytester.runpytest("--rws-fuzz=stateless")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert "--rws-fuzz needs --rws-server-url" in result.stderr.str()

    @pytest.mark.parametrize(
        ("option", "message"),
        [
            ("--rws-fuzz-profile=weekly", "unknown fuzz profile 'weekly'"),
            ("--rws-fuzz-max-examples=0", "must be at least 1"),
            ("--rws-fuzz-known-failure=(", "--rws-fuzz-known-failure '('"),
        ],
    )
    def test_bad_fuzz_settings_are_usage_errors(
        self, pytester: pytest.Pytester, option: str, message: str
    ) -> None:
        plain_project(pytester)
        result = pytester.runpytest("--rws-server-url=ws://127.0.0.1:9", "--rws-fuzz=both", option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert message in result.stderr.str()

    def test_fuzz_items_are_collected_under_pytest_trio_trio_mode(
        self, pytester: pytest.Pytester
    ) -> None:
        """trio_mode reads ``obj`` of every item; the fuzz items have one too."""
        pytester.makeini("[pytest]\ntrio_mode = true\n")
        result = pytester.runpytest(
            "--rws-server-url=ws://127.0.0.1:9", "--rws-fuzz=both", "--collect-only"
        )
        assert result.ret == pytest.ExitCode.OK
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        result.stdout.fnmatch_lines(["*<FuzzItem stateless>*", "*<FuzzItem stateful>*"])

    def test_rws_fuzz_both_collects_one_item_per_mode_instead_of_the_suite(
        self, pytester: pytest.Pytester
    ) -> None:
        """Collecting runs nothing: no fuzzing, no report, and no conformance check items."""
        plain_project(pytester)
        result = pytester.runpytest(
            "--rws-server-url=ws://127.0.0.1:9", "--rws-fuzz=both", "--collect-only", "-q"
        )
        assert result.ret == pytest.ExitCode.OK
        lines = result.stdout.lines
        assert "responses-ws-fuzz::stateless" in lines
        assert "responses-ws-fuzz::stateful" in lines
        assert not any(line.startswith("responses-ws::") for line in lines)
        assert not (pytester.path / "fuzz-out").exists()

    def test_rws_fuzz_one_mode_collects_one_item(self, pytester: pytest.Pytester) -> None:
        plain_project(pytester)
        result = pytester.runpytest(
            "--rws-server-url=ws://127.0.0.1:9", "--rws-fuzz=stateful", "--collect-only", "-q"
        )
        fuzz_items = [line for line in result.stdout.lines if line.startswith("responses-ws-fuzz")]
        assert fuzz_items == ["responses-ws-fuzz::stateful"]

    def test_unreachable_server_fails_the_item_without_fuzzing(
        self, pytester: pytest.Pytester
    ) -> None:
        """A connection error is a setup failure named with the URL, not a shrunk finding."""
        plain_project(pytester)
        # Port 9 (discard) on loopback: nothing listens there in a test environment.
        result = pytester.runpytest("--rws-server-url=ws://127.0.0.1:9", "--rws-fuzz=stateless")
        result.assert_outcomes(failed=1, passed=1)
        out = result.stdout.str()
        assert "ws://127.0.0.1:9/v1/responses" in out
        assert "stateless-failure.jsonl" not in out
        assert not (pytester.path / "fuzz-out" / "fuzz-report.json").exists()


def test_failure_without_requirement_id_is_named_by_replaying_its_transcript(
    tmp_path: Path,
) -> None:
    """A message that names no requirement (a stateful "expected an outcome / actual the
    server closed ...") gets the requirements the checker finds when it replays the file."""
    create = {"type": "response.create", "model": "conformance-1", "input": "hi", "store": False}
    records = [
        {"ts": 0.0, "conn": "c1", "kind": "open", "url": "ws://h/v1/responses", "status": 101},
        {"ts": 0.1, "conn": "c1", "kind": "text", "dir": "c2s", "text": json.dumps(create)},
        {"ts": 0.2, "conn": "c1", "kind": "close", "dir": "s2c", "code": 1011, "reason": ""},
    ]
    transcript = tmp_path / "stateful-failure.jsonl"
    transcript.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    message = "expected an outcome / actual the server closed the connection (code 1011)"
    named = _failing_requirements(message, transcript, frozenset({"core"}))
    assert "RWS-CREATE-12" in named
    # A message that names requirements is taken as it is, in its order.
    assert _failing_requirements(
        "RWS-CACHE-2: x (RWS-LIMIT-6, RWS-CACHE-2)", None, frozenset()
    ) == (
        "RWS-CACHE-2",
        "RWS-LIMIT-6",
    )


@pytest.fixture(scope="module")
def reference() -> Iterator[SpawnedServer]:
    with spawn_reference(["--no-steering"]) as server:
        yield server


@pytest.fixture(scope="module")
def crashing_reference() -> Iterator[SpawnedServer]:
    with spawn_reference(["--fault", FAULT, "--no-steering"]) as server:
        yield server


@pytest.mark.slow
def test_small_fuzz_run_against_the_reference_server_passes(
    pytester: pytest.Pytester, reference: SpawnedServer
) -> None:
    """Both modes run as items and pass; fuzz-report.json holds both runs."""
    pytester.makeini(INI)
    out = pytester.path / "fuzz-results"
    result = pytester.runpytest_subprocess(
        *server_args(reference),
        "--rws-fuzz=both",
        "--rws-fuzz-profile=ci",
        "--rws-fuzz-max-examples=12",
        "--rws-fuzz-seed=7",
        f"--rws-fuzz-out={out}",
        "-W",
        "error",
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((out / "fuzz-report.json").read_text(encoding="utf-8"))
    assert report["ok"] is True
    assert report["server"] == reference.url
    assert [run["mode"] for run in report["runs"]] == ["stateless", "stateful"]
    assert all(run["examples"] >= 12 for run in report["runs"])
    assert all(run["profile"] == "ci" for run in report["runs"])
    summary = result.stdout.str()
    assert "responses-ws fuzz" in summary
    assert "stateless: " in summary
    assert "no failure" in summary


@pytest.mark.slow
def test_fuzz_item_fails_naming_the_requirement_transcript_and_replay(
    pytester: pytest.Pytester, crashing_reference: SpawnedServer
) -> None:
    """The crash-on-deep-input fault is found; the failure names its requirement and the
    shrunk transcript, and the printed replay command reports the failure again."""
    requirement = fault_table()[FAULT]
    pytester.makeini(INI)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        *server_args(crashing_reference),
        "--rws-fuzz=stateless",
        # ci is derandomized: the same examples, and so the same finding, every run.
        "--rws-fuzz-profile=ci",
        f"--junitxml={junit}",
        "-W",
        "error",
    )
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    transcript = pytester.path / "fuzz-out" / "stateless-failure.jsonl"
    assert transcript.exists()
    out = result.stdout.str()
    headline = re.search(r"stateless fuzzing FAILED \[([^\]]*)\]: (\S+)", out)
    assert headline is not None, out
    assert requirement in headline.group(1).split()
    assert headline.group(2) == str(transcript)
    assert "closed the connection (code 1011)" in out
    assert f"minimal transcript (3 records): {transcript}" in out
    replay_lines = [line for line in result.stdout.lines if line.startswith("replay: ")]
    assert replay_lines
    replay = replay_lines[0].removeprefix("replay: ")
    assert replay.startswith(f"responses-ws validate {transcript} --role server")
    # The replay command works: validate exits 1 (a FAILED requirement).
    assert main(replay.split()[1:]) == 1
    report = json.loads((pytester.path / "fuzz-out" / "fuzz-report.json").read_text())
    assert report["ok"] is False
    assert report["runs"][0]["transcript"] == str(transcript)
    # The item's user_properties reach the JUnit XML for CI dashboards.
    properties = {
        prop.get("name"): prop.get("value") for prop in ET.parse(junit).getroot().iter("property")
    }
    assert properties["rws_fuzz_transcript"] == str(transcript)
    assert properties["rws_fuzz_replay"] == replay
    assert requirement in str(properties["rws_requirements"]).split()

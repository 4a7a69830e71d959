"""``responses-ws check --stress``: its options, and the errors it stops on before any probe."""

from __future__ import annotations

import pytest

from conformance.cli import build_parser, main
from conformance.commands.check import options_from_args
from conformance.stress.command import stress_options_from_args
from conformance.suite_options import OptionError

__all__: list[str] = []

# Nothing listens on the discard port of loopback.
URL = "ws://127.0.0.1:9"


def test_the_stress_options_are_read_from_the_check_command() -> None:
    args = build_parser().parse_args(
        [
            "check",
            f"--server-url={URL}",
            "--stress",
            "--server-pid=4242",
            "--stress-param=slow-reader.seconds=5",
            "--stress-probe=slow-reader,queue-flood",
            "--stress-probe=large-input",
        ]
    )
    stress = stress_options_from_args(args)
    assert stress.enabled
    assert stress.server_pid == 4242
    assert stress.params == ("slow-reader.seconds=5",)
    assert stress.probes == ("slow-reader", "queue-flood", "large-input")
    assert options_from_args(args).server_url == URL


def test_a_server_pid_must_be_a_process_id() -> None:
    args = build_parser().parse_args(["check", "--stress", "--server-pid=abc"])
    with pytest.raises(OptionError, match="--server-pid expects a process id"):
        stress_options_from_args(args)


def test_list_names_the_probes_and_the_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--stress", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("slow-reader", "stalled-reader", "queue-flood", "large-input", "bad-frame-flood"):
        assert f"  {name} " in out
    assert "limits.latency-s (default 0.5)" in out


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--stress-param=slow-reader.speed=3"], "unknown stress parameter"),
        (["--stress-probe=fast-reader"], "unknown stress probe 'fast-reader'"),
        (["--server-pid=0"], "--server-pid expects a process id"),
        ([], "could not connect"),
    ],
)
def test_the_command_stops_before_any_probe_on_a_bad_option_or_no_server(
    capsys: pytest.CaptureFixture[str], options: list[str], said: str
) -> None:
    status = main(["check", "--stress", f"--server-url={URL}", "--model=m", *options])
    assert status == 2
    assert said in capsys.readouterr().err


def test_without_a_server_the_command_says_what_it_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--stress"]) == 2
    assert "--server-url or --spawn-reference is required" in capsys.readouterr().err

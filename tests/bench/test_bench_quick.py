"""``responses-ws bench --quick --json``: the report's structure and its internal consistency.

One quick run (module fixture) against real reference servers of both I/O drivers. The tests
check that every figure is present and sane, that ratios are the quotients of the figures they
name, that the protocol facts the figures rest on hold (bytes, cached tokens) and that the
plots are drawn. They never assert a timing threshold: the machine decides those.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.bench.measure import MODES
from conformance.bench.report import RATIO_FIGURES, TARGETS

__all__: list[str] = []

pytestmark = pytest.mark.slow

DRIVERS = ("trio", "asyncio")
COSTS = ("cost_off", "cost_on")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("bench")
    done = _bench("--quick", "--json", str(out / "report.json"), "--plots", str(out / "plots"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, done.stdout, out


def _positive(value: Any, where: str) -> None:
    assert isinstance(value, int | float), where
    assert not isinstance(value, bool), where
    assert math.isfinite(value), f"{where} = {value!r}"
    assert value > 0, f"{where} = {value!r}"


def test_report_has_every_figure_for_both_drivers(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    assert report["format"] == "responses-ws-bench/1"
    assert report["quick"] is True
    for io in ("asyncio", "trio"):
        for kind in ("request", "delta"):
            floor = report["floor"][io][kind]
            for key in ("p50_us", "p99_us", "message_bytes", "server_cpu_us"):
                _positive(floor[key], f"floor.{io}.{kind}.{key}")
        paced = report["floor"][io]["paced"]
        # One lateness per message after the first, one first message per session.
        assert paced["loaded"]["event_latency_ms"]["n"] == paced["sessions"] * (
            paced["messages_per_session"] - 1
        )
        for key in ("run_cpu_us_per_event", "connection_cpu_us", "achieved_events_per_s"):
            _positive(paced[key], f"floor.{io}.paced.{key}")
    for io in DRIVERS:
        driver = report["drivers"][io]
        for cost in COSTS:
            for mode in MODES:
                figures = driver["tool_loop"][cost][mode]
                assert figures["turns"] == 20
                for key in (
                    "wall_ms_turn_p50",
                    "wall_ms_total",
                    "c2s_payload_bytes_total",
                    "c2s_wire_bytes_total",
                    "uncached_input_tokens_total",
                    "server_cpu_ms_total",
                ):
                    _positive(figures[key], f"{io}.{cost}.{mode}.{key}")
                for key in ("wall_ms_per_turn", "c2s_payload_bytes_per_turn"):
                    assert len(figures[key]) == 20
                    for value in figures[key]:
                        _positive(value, f"{io}.{cost}.{mode}.{key}")
        overhead = driver["overhead"]
        assert overhead["turns"] == 50
        assert len(overhead["us_per_turn"]) == 50
        for key in (
            "turn_1_us",
            "turn_last_us",
            "p50_us",
            "p99_us",
            "p50_over_loop_floor",
            "p50_over_hot_floor",
        ):
            _positive(overhead[key], f"{io}.overhead.{key}")
        throughput = driver["throughput"]
        assert throughput["deltas"] == throughput["chunks"]
        for key in ("stream_events_per_s", "end_to_end_events_per_s", "events_per_server_cpu_s"):
            _positive(throughput[key], f"{io}.throughput.{key}")
        concurrency = driver["concurrency"]
        loaded = concurrency["loaded"]
        # One lateness per event after response.created, one created time per session.
        assert loaded["event_latency_ms"]["n"] == concurrency["sessions"] * (
            concurrency["events_per_session"] - 1
        )
        assert loaded["created_ms"]["n"] == concurrency["sessions"]
        for key in ("p50", "p99"):
            _positive(loaded["created_ms"][key], f"{io}.concurrency.created_ms.{key}")
        for key in (
            "achieved_events_per_s",
            "server_cpu_utilisation",
            "run_cpu_us_per_event",
            "connection_cpu_us",
            "server_cpu_us_per_event",
            "p99_over_single_p99",
            "run_cpu_over_floor",
        ):
            _positive(concurrency[key], f"{io}.concurrency.{key}")
        # The CPU time by phase adds up to the whole: per event, connections included.
        events = concurrency["sessions"] * concurrency["events_per_session"]
        assert concurrency["server_cpu_us_per_event"] == pytest.approx(
            concurrency["run_cpu_us_per_event"]
            + concurrency["connection_cpu_us"] * concurrency["sessions"] / events
        )
        for key in ("server_cpu_p50_us", "server_cpu_turn_1_us", "cpu_p50_over_floor_cpu"):
            _positive(driver["overhead"][key], f"{io}.overhead.{key}")
        suite = driver["suite"]
        _positive(suite["seconds"], f"{io}.suite.seconds")
        assert suite["passed"] > 0
    checker = report["checker"]
    _positive(checker["events_per_s"], "checker.events_per_s")
    _positive(checker["events_per_cpu_s"], "checker.events_per_cpu_s")
    _positive(checker["synthetic_events_per_cpu_s"], "checker.synthetic_events_per_cpu_s")
    assert checker["server_events"] < checker["records"]


def test_report_carries_both_floors_and_the_target_divides_by_the_loop_shaped_one(
    run: tuple[dict[str, Any], str, Path],
) -> None:
    report, stdout, _ = run
    for io in ("asyncio", "trio"):
        hot = report["floor"][io]["request"]
        loop = report["floor"][io]["request_loop_shaped"]
        for key in (
            "p50_us",
            "p99_us",
            "message_bytes",
            "stream_messages",
            "stream_message_bytes",
            "client_gap_us",
        ):
            _positive(loop[key], f"floor.{io}.request_loop_shaped.{key}")
        assert loop["min_us"] <= loop["p50_us"] <= loop["p99_us"] <= loop["max_us"]
        # The same continuation request as the hot floor's (ids and digits aside), after a
        # stream of a continuation turn's events (created ... completed: several).
        assert abs(loop["message_bytes"] - hot["message_bytes"]) <= 64
        assert loop["stream_messages"] >= 3
    loop_floor = report["floor"]["asyncio"]["request_loop_shaped"]["p50_us"]
    hot_floor = report["floor"]["asyncio"]["request"]["p50_us"]
    by_key = {(t["id"], t.get("driver")): t for t in report["targets"]}
    for io in DRIVERS:
        overhead = report["drivers"][io]["overhead"]
        assert overhead["p50_over_loop_floor"] == pytest.approx(
            overhead["p50_us"] / loop_floor, rel=1e-12
        )
        assert overhead["p50_over_hot_floor"] == pytest.approx(
            overhead["p50_us"] / hot_floor, rel=1e-12
        )
        target = by_key[("overhead_p50_over_floor", io)]
        assert target["measured"] == overhead["p50_over_loop_floor"]
        assert target["floor_us"] == loop_floor
        assert target["hot_floor_us"] == hot_floor
        assert target["over_hot_floor"] == overhead["p50_over_hot_floor"]
    assert "request, loop-shaped" in stdout
    assert "p50 / loop-shaped echo floor" in stdout


def test_percentiles_are_ordered(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    for io in DRIVERS:
        driver = report["drivers"][io]
        assert driver["overhead"]["p50_us"] <= driver["overhead"]["p99_us"]
        for sessions in ("loaded", "baseline"):
            for name in ("event_latency_ms", "created_ms", "jitter_ms"):
                stats = driver["concurrency"][sessions][name]
                assert stats["min"] <= stats["p50"] <= stats["p99"] <= stats["max"]
        for cost in COSTS:
            for mode in MODES:
                figures = driver["tool_loop"][cost][mode]
                assert figures["wall_ms_turn_p50"] <= figures["wall_ms_turn_p99"]


def test_ratios_are_the_quotients_of_their_parts(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    for io in DRIVERS:
        driver = report["drivers"][io]
        for cost in COSTS:
            modes = driver["tool_loop"][cost]
            ratios = driver["ratios"][cost]
            assert set(ratios) == {f"{m}_over_b" for m in MODES if m != "b"}
            for mode in MODES:
                if mode == "b":
                    continue
                for name in RATIO_FIGURES:
                    expected = modes[mode][name] / modes["b"][name]
                    assert ratios[f"{mode}_over_b"][name] == pytest.approx(expected, rel=1e-12)


def test_targets_cite_the_figures_they_judge(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    floor = report["floor"]["asyncio"]["request"]["p50_us"]
    loop_floor = report["floor"]["asyncio"]["request_loop_shaped"]["p50_us"]
    by_key = {(t["id"], t.get("driver")): t for t in report["targets"]}
    # Six per driver, the checker's two, and the proxy's two.
    assert len(by_key) == 6 * len(DRIVERS) + 4
    for io in DRIVERS:
        driver = report["drivers"][io]
        concurrency = driver["concurrency"]
        expected = {
            "bytes_a_over_b": driver["ratios"]["cost_off"]["a_over_b"]["c2s_payload_bytes_total"],
            "overhead_turn50_over_turn1": driver["overhead"]["turn_last_us"]
            / driver["overhead"]["turn_1_us"],
            "overhead_p50_over_floor": driver["overhead"]["p50_us"] / loop_floor,
            "delta_events_per_s": driver["throughput"]["stream_events_per_s"],
            "paced_p99_over_single": concurrency["loaded"]["event_latency_ms"]["p99"]
            / concurrency["baseline"]["event_latency_ms"]["p99"],
            "paced_cpu_us_per_event": concurrency["run_cpu_us_per_event"],
        }
        for name, value in expected.items():
            assert by_key[(name, io)]["measured"] == pytest.approx(value, rel=1e-12)
    assert by_key[("checker_events_per_s", None)]["measured"] == report["checker"]["events_per_s"]
    checker_cpu = by_key[("checker_events_per_cpu_s", None)]
    assert checker_cpu["measured"] == report["checker"]["events_per_cpu_s"]
    assert checker_cpu["synthetic"] == report["checker"]["synthetic_events_per_cpu_s"]
    proxy = report["proxy"]
    assert by_key[("proxy_added_created_over_floor", None)]["measured"] == pytest.approx(
        (proxy["created_proxied_p50_us"] - proxy["created_direct_p50_us"]) / floor, rel=1e-12
    )
    assert (
        by_key[("proxy_delta_events_per_s", None)]["measured"]
        == proxy["proxied_stream_events_per_s"]
    )
    for target in report["targets"]:
        _, op, bound = TARGETS[target["id"]]
        assert target["target"] == bound
        assert target["op"] == op
        met = target["measured"] <= bound if op == "<=" else target["measured"] >= bound
        assert target["met"] is met


def test_protocol_facts_behind_the_figures(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    for io in DRIVERS:
        for cost in COSTS:
            modes = report["drivers"][io]["tool_loop"][cost]
            a, lean, b, c = (modes[m] for m in ("a", "a_lean", "b", "c"))
            # RWS-CACHE-2 / RWS-MODEL-3: continuation restores the context from the cache;
            # a hydrated previous response (c) and a full resend (b) restore nothing.
            assert a["cached_tokens_total"] > 0
            assert b["cached_tokens_total"] == 0
            assert c["cached_tokens_total"] == 0
            # The same conversation, so the same input tokens whichever way it travelled.
            assert a["input_tokens_total"] == b["input_tokens_total"] == c["input_tokens_total"]
            assert b["uncached_input_tokens_total"] == c["uncached_input_tokens_total"]
            assert a["uncached_input_tokens_total"] < b["uncached_input_tokens_total"]
            # Full resend grows every turn; continuation requests stay the same size.
            resend = b["c2s_payload_bytes_per_turn"]
            assert all(later > earlier for earlier, later in itertools.pairwise(resend))
            assert (
                max(a["c2s_payload_bytes_per_turn"][1:]) - min(a["c2s_payload_bytes_per_turn"][1:])
                <= 64
            )
            assert lean["c2s_payload_bytes_total"] < a["c2s_payload_bytes_total"]
            # Wire bytes add frame headers (and, per connection, the upgrade request).
            for figures in (a, lean, b, c):
                assert figures["c2s_wire_bytes_total"] > figures["c2s_payload_bytes_total"]


def test_text_summary_lists_every_target(run: tuple[dict[str, Any], str, Path]) -> None:
    report, stdout, _ = run
    for what, _op, _bound in TARGETS.values():
        assert what in stdout
    assert stdout.count("MISSED") + stdout.count("met ") >= len(report["targets"])


def test_proxy_is_measured_beside_direct_figures_of_the_same_run(
    run: tuple[dict[str, Any], str, Path],
) -> None:
    report, stdout, _ = run
    proxy = report["proxy"]
    for key in (
        "created_direct_p50_us",
        "created_proxied_p50_us",
        "proxy_cpu_us_per_turn",
        "direct_stream_events_per_s",
        "proxied_stream_events_per_s",
        "proxy_cpu_us_per_delta",
        "events_per_proxy_cpu_s",
    ):
        _positive(proxy[key], f"proxy.{key}")
    assert proxy["added_created_p50_us"] == pytest.approx(
        proxy["created_proxied_p50_us"] - proxy["created_direct_p50_us"], rel=1e-12
    )
    assert "Proxy (in front of the asyncio reference server, checking on)" in stdout


def test_plots_are_png_files(run: tuple[dict[str, Any], str, Path]) -> None:
    _, _, out = run
    plots = sorted((out / "plots").glob("*.png"))
    assert [p.name for p in plots] == [
        "continuation-overhead.png",
        "throughput-latency.png",
        "tool-loop-bytes-tokens.png",
        "tool-loop-wall.png",
    ]
    for path in plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_report_renders_again_without_measuring(
    run: tuple[dict[str, Any], str, Path],
) -> None:
    _, stdout, out = run
    done = _bench("--from-json", str(out / "report.json"), "--markdown", str(out / "t.md"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == stdout.split("wrote ")[0]
    tables = (out / "t.md").read_text(encoding="utf-8")
    # One row per target (six per driver, the checker's two, the proxy's two), one tool-loop
    # table per driver and cost setting.
    assert tables.count("| yes |") + tables.count("| **no** |") == 6 * len(DRIVERS) + 4
    assert tables.count("**Tool loop,") == len(DRIVERS) * len(COSTS)


def test_both_drivers_pass_the_conformance_suite(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    for io in DRIVERS:
        suite = report["drivers"][io]["suite"]
        assert suite["exit_status"] == 0, (io, suite["failed_checks"])
        assert suite["failed"] == 0

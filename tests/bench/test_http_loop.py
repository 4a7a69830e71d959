"""The HTTP baseline of the benchmark (issue 17): its figures and the protocol facts under them.

One short run (3 turns, one loop per mode) against a real reference server. It checks what a
run must show whatever the machine: every mode finishes the loop, the byte counts follow from
what each mode sends, the savings are the quotients of the figures they name, and the page's
table has a row per mode and cost model. It asserts no timing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conformance.bench.http_loop import HTTP_MODES, measure_http_baseline, render_http_baseline
from conformance.bench.servers import CostModel

__all__: list[str] = []

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return asyncio.run(measure_http_baseline(3, 1, CostModel(2.0, 20.0), lambda _line: None))


def test_every_mode_runs_with_the_cost_model_off_and_on(raw: dict[str, Any]) -> None:
    for cost in ("cost_off", "cost_on"):
        modes = raw[cost]["modes"]
        assert set(modes) == set(HTTP_MODES)
        for figures in modes.values():
            assert figures["wall_ms_per_loop"] > 0
            assert figures["server_cpu_ms_per_loop"] > 0
            assert figures["ttft_ms_median"] > 0


def test_bytes_follow_from_what_each_mode_sends(raw: dict[str, Any]) -> None:
    modes = raw["cost_off"]["modes"]
    sent = {mode: modes[mode]["c2s_bytes_per_loop"] for mode in HTTP_MODES}
    # A full resend carries the history: more than either continuation.
    assert sent["http_resend"] > sent["http_chain"]
    assert sent["http_resend"] > sent["ws"]
    # A new connection per turn sends the same requests (their heads included).
    assert sent["http_new"] == sent["http_resend"]
    # The bytes do not depend on the cost model.
    on = raw["cost_on"]["modes"]
    assert {mode: on[mode]["c2s_bytes_per_loop"] for mode in HTTP_MODES} == sent


def test_savings_are_the_quotients_of_the_figures(raw: dict[str, Any]) -> None:
    for cost in ("cost_off", "cost_on"):
        block = raw[cost]
        ws = block["modes"]["ws"]
        for mode, saves in block["ws_saves"].items():
            other = block["modes"][mode]
            for name, value in saves.items():
                assert value == round(1 - ws[name] / other[name], 3)


def test_the_table_has_a_row_per_mode_and_cost_model(raw: dict[str, Any]) -> None:
    rows = [line for line in render_http_baseline(raw) if line.startswith("| cost")]
    assert len(rows) == 2 * len(HTTP_MODES)

"""The benchmark report: ratios computed from the measured parts, targets, and the text summary.

:func:`finish` takes the raw measurements of :func:`conformance.bench.measure.run_bench` and
adds, per driver and cost setting, the ratios of each mode to the full-resend mode ``b``, and
the issue's targets with the measured figure and whether it is met. Every ratio is computed
from figures in the same report, so a reader (and the test) can recompute it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from conformance.bench.http_loop import HTTP_MODES, render_http_baseline
from conformance.bench.proxy import PROXY_TARGETS, proxy_targets, render_proxy

__all__ = [
    "RATIO_FIGURES",
    "TARGETS",
    "finish",
    "overhead_floor_us",
    "render_markdown",
    "render_text",
]

#: The per-mode figures that ratios are computed for (``<mode>_over_b``).
RATIO_FIGURES: tuple[str, ...] = (
    "c2s_payload_bytes_total",
    "c2s_wire_bytes_total",
    "wall_ms_total",
    "wall_ms_turn_p50",
    "server_cpu_ms_total",
    "uncached_input_tokens_total",
)

#: The issues' targets on the 2-core machine: id -> (what, comparison, bound).
TARGETS: dict[str, tuple[str, str, float]] = {
    "bytes_a_over_b": ("client->server bytes over 20 turns, (a)/(b)", "<=", 0.12),
    "overhead_turn50_over_turn1": ("continuation overhead, turn 50 / turn 1", "<=", 1.1),
    # Over the loop-shaped echo floor: the same exchange as a continuation (a request after a
    # run's stream), without the protocol work (conformance.bench.measure).
    "overhead_p50_over_floor": (
        "p50 continuation overhead / loop-shaped echo floor",
        "<=",
        2.0,
    ),
    "delta_events_per_s": ("delta events/s on one connection", ">=", 40_000.0),
    "paced_p99_over_single": (
        "p99 event latency, concurrent paced sessions / 1 session",
        "<=",
        3.0,
    ),
    "paced_cpu_us_per_event": ("server CPU per paced event (us)", "<=", 60.0),
    "checker_events_per_s": ("checker events/s validated", ">=", 100_000.0),
    # Issue 16: the hot path (parse, validate, rule steps) keeps up with a live proxy.
    "checker_events_per_cpu_s": ("checker server events per CPU second", ">=", 200_000.0),
    # The proxy's (conformance.bench.proxy).
    **PROXY_TARGETS,
}


def _ratios(modes: dict[str, Any]) -> dict[str, dict[str, float]]:
    base = modes["b"]
    out: dict[str, dict[str, float]] = {}
    for mode, figures in modes.items():
        if mode == "b":
            continue
        out[f"{mode}_over_b"] = {
            name: figures[name] / base[name] for name in RATIO_FIGURES if base[name]
        }
    return out


def _target(name: str, measured: float, **context: Any) -> dict[str, Any]:
    what, op, bound = TARGETS[name]
    met = measured <= bound if op == "<=" else measured >= bound
    return {
        "id": name,
        "what": what,
        "op": op,
        "target": bound,
        "measured": measured,
        "met": met,
        **context,
    }


def overhead_floor_us(report: dict[str, Any]) -> float:
    """The floor the continuation-overhead target divides by: the p50 of the asyncio echo
    server's loop-shaped floor (the hot one in reports made before it was measured)."""
    floor = report["floor"]["asyncio"]
    return float(floor.get("request_loop_shaped", floor["request"])["p50_us"])


def finish(raw: dict[str, Any]) -> dict[str, Any]:
    """Add ratios and targets to a raw report; return it."""
    report = dict(raw)
    floor_us = overhead_floor_us(raw)
    hot_floor_us = raw["floor"]["asyncio"]["request"]["p50_us"]
    floor_cpu_us = raw["floor"]["asyncio"]["request"]["server_cpu_us"]
    targets: list[dict[str, Any]] = []
    for io, driver in raw["drivers"].items():
        driver["ratios"] = {cost: _ratios(modes) for cost, modes in driver["tool_loop"].items()}
        bytes_ratio = driver["ratios"]["cost_off"]["a_over_b"]["c2s_payload_bytes_total"]
        lean_ratio = driver["ratios"]["cost_off"]["a_lean_over_b"]["c2s_payload_bytes_total"]
        overhead = driver["overhead"]
        # The target's ratio: over the loop-shaped floor; the hot floor's beside it.
        overhead["p50_over_loop_floor"] = overhead["p50_us"] / floor_us
        overhead["p50_over_hot_floor"] = overhead["p50_us"] / hot_floor_us
        # The same two comparisons in server CPU time, which other programs on the machine
        # barely disturb: CPU from create to created against the echo server's CPU per echo.
        overhead["cpu_p50_over_floor_cpu"] = overhead["server_cpu_p50_us"] / floor_cpu_us
        # A turn whose CPU time reads 0 (too short for the clock) has no ratio.
        first_cpu = overhead["server_cpu_turn_1_us"]
        overhead["cpu_ratio_last_over_first"] = (
            overhead["server_cpu_turn_last_us"] / first_cpu if first_cpu > 0 else math.nan
        )
        concurrency = driver["concurrency"]
        loaded_p99 = concurrency["loaded"]["event_latency_ms"]["p99"]
        single_p99 = concurrency["baseline"]["event_latency_ms"]["p99"]
        concurrency["p99_over_single_p99"] = loaded_p99 / single_p99
        # Beside the floor: the same paced sessions on the same websockets layer, echo server.
        paced_floor = raw["floor"][io].get("paced")
        if paced_floor is not None:
            concurrency["run_cpu_over_floor"] = (
                concurrency["run_cpu_us_per_event"] / paced_floor["run_cpu_us_per_event"]
            )
        targets += [
            _target("bytes_a_over_b", bytes_ratio, driver=io, a_lean=lean_ratio),
            _target(
                "overhead_turn50_over_turn1",
                overhead["ratio_last_over_first"],
                driver=io,
                fitted=overhead["fitted_ratio_last_over_first"],
                server_cpu=overhead["cpu_ratio_last_over_first"],
            ),
            _target(
                "overhead_p50_over_floor",
                overhead["p50_over_loop_floor"],
                driver=io,
                p50_us=overhead["p50_us"],
                floor_us=floor_us,
                hot_floor_us=hot_floor_us,
                over_hot_floor=overhead["p50_over_hot_floor"],
                server_cpu=overhead["cpu_p50_over_floor_cpu"],
            ),
            _target(
                "delta_events_per_s",
                driver["throughput"]["stream_events_per_s"],
                driver=io,
                end_to_end=driver["throughput"]["end_to_end_events_per_s"],
                server_cpu=driver["throughput"]["events_per_server_cpu_s"],
            ),
            # Wall time against wall time of the same run; the server's CPU per paced event
            # stands beside it.
            _target(
                "paced_p99_over_single",
                concurrency["p99_over_single_p99"],
                driver=io,
                loaded_p99_ms=loaded_p99,
                single_p99_ms=single_p99,
                server_cpu=concurrency["run_cpu_us_per_event"],
            ),
            _target(
                "paced_cpu_us_per_event",
                concurrency["run_cpu_us_per_event"],
                driver=io,
                all_in=concurrency["server_cpu_us_per_event"],
                connection_us=concurrency["connection_cpu_us"],
                floor=None if paced_floor is None else paced_floor["run_cpu_us_per_event"],
                server_cpu=concurrency["run_cpu_us_per_event"],
            ),
        ]
    targets.append(
        _target(
            "checker_events_per_s",
            raw["checker"]["events_per_s"],
            server_cpu=raw["checker"]["events_per_cpu_s"],
        )
    )
    targets.append(
        _target(
            "checker_events_per_cpu_s",
            raw["checker"]["events_per_cpu_s"],
            synthetic=raw["checker"].get("synthetic_events_per_cpu_s"),
        )
    )
    report["targets"] = targets + proxy_targets(report)
    return report


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def render_text(report: dict[str, Any]) -> str:
    """A plain-text summary: the targets, then the tool loop side by side."""
    lines = [
        f"responses-ws bench{' --quick' if report['quick'] else ''}: "
        f"{report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
        f"websockets {report['machine']['websockets']}",
        "",
        "Targets:",
    ]
    for t in report["targets"]:
        driver = f"[{t['driver']}] " if "driver" in t else ""
        verdict = "met" if t["met"] else "MISSED"
        lines.append(
            f"  {verdict:6} {driver}{t['what']}: {_fmt(t['measured'])} "
            f"(target {t['op']} {_fmt(t['target'])})"
            + (f"; in CPU time {_fmt(t['server_cpu'])}" if "server_cpu" in t else "")
        )
    floor = report["floor"]
    load = report["machine"].get("load_average_start"), report["machine"].get("load_average_end")
    lines += [
        "",
        f"Load average at start {load[0]}, at end {load[1]}",
        "",
        "Floor (websockets echo, p50 / p99 us): "
        + ", ".join(
            f"{io} {_floor_label(kind, f)} {_fmt(f['p50_us'])} / {_fmt(f['p99_us'])}"
            for io, kinds in floor.items()
            for kind, f in kinds.items()
            if kind != "paced"
        ),
    ]
    for io, kinds in floor.items():
        if "paced" in kinds:
            lines.append(f"  paced stream, websockets {io}: {_paced_text(kinds['paced'])}")
    for io, driver in report["drivers"].items():
        lines += ["", f"Driver {io}:"]
        for cost, modes in driver["tool_loop"].items():
            lines.append(f"  tool loop, {cost.replace('_', ' ')} (medians):")
            lines.append(
                "    mode     wall/turn ms  total ms  srv CPU ms/turn  c2s bytes  wire bytes"
                "  uncached tok"
            )
            for mode, m in modes.items():
                lines.append(
                    f"    {mode:7} {m['wall_ms_turn_p50']:12.3f} {m['wall_ms_total']:9.1f} "
                    f"{m['server_cpu_ms_per_turn']:16.3f} "
                    f"{m['c2s_payload_bytes_total']:10.0f} {m['c2s_wire_bytes_total']:11.0f} "
                    f"{m['uncached_input_tokens_total']:13.0f}"
                )
            for name, ratios in driver["ratios"][cost].items():
                lines.append(
                    f"    {name}: bytes {ratios['c2s_payload_bytes_total']:.3f}, wall "
                    f"{ratios['wall_ms_total']:.3f}, server CPU "
                    f"{ratios.get('server_cpu_ms_total', float('nan')):.3f}, uncached tokens "
                    f"{ratios['uncached_input_tokens_total']:.3f}"
                )
        o = driver["overhead"]
        lines.append(
            f"  continuation overhead: turn 1 {_fmt(o['turn_1_us'])} us, turn {o['turns']} "
            f"{_fmt(o['turn_last_us'])} us, slope {_fmt(o['slope_us_per_turn'])} us/turn, "
            f"p50 {_fmt(o['p50_us'])} us, p99 {_fmt(o['p99_us'])} us; server CPU per turn p50 "
            f"{_fmt(o['server_cpu_p50_us'])} us (turn 1 {_fmt(o['server_cpu_turn_1_us'])}, "
            f"turn {o['turns']} {_fmt(o['server_cpu_turn_last_us'])})"
        )
        if "p50_over_loop_floor" in o:
            lines.append(
                f"    p50 / loop-shaped echo floor {_fmt(o['p50_over_loop_floor'])}, "
                f"/ hot echo floor {_fmt(o['p50_over_hot_floor'])}"
            )
        tp = driver["throughput"]
        lines.append(
            f"  throughput: {_fmt(tp['stream_events_per_s'])} delta events/s streaming, "
            f"{_fmt(tp['end_to_end_events_per_s'])} end to end, "
            f"{_fmt(tp['events_per_server_cpu_s'])} per server CPU second ({tp['chunks']} deltas)"
        )
        c = driver["concurrency"]
        lines.append(
            f"  {c['sessions']} sessions x {c['events_per_session']} events paced "
            f"{c['pacing_ms']} ms (started over {c['ramp_s']} s): {_paced_text(c)}"
        )
        lines.append(
            f"    create->created p50 {_fmt(c['loaded']['created_ms']['p50'])} ms, p99 "
            f"{_fmt(c['loaded']['created_ms']['p99'])} ms; client CPU "
            f"{c['client_cpu_utilisation']:.0%}"
        )
        if "suite" in driver:
            s = driver["suite"]
            lines.append(
                f"  conformance suite: {s['seconds']:.1f} s, exit {s['exit_status']}, "
                f"passed {s.get('passed', '?')}, failed {s.get('failed', '?')}"
            )
    ch = report["checker"]
    lines += [
        "",
        f"Checker: {_fmt(ch['events_per_s'])} server events/s "
        f"({_fmt(ch['records_per_s'])} records/s, {ch['records']} records; cold "
        f"{_fmt(ch['cold_events_per_s'])} events/s; "
        f"{_fmt(ch.get('events_per_cpu_s', math.nan))} per CPU second); synthetic short "
        f"runs: {_fmt(ch.get('synthetic_events_per_cpu_s', math.nan))} per CPU second",
    ]
    return "\n".join(lines + render_proxy(report) + _http_text(report))


def _floor_label(kind: str, figures: dict[str, Any]) -> str:
    """How the text summary names one echo floor (see conformance.bench.measure)."""
    size = f"{figures['message_bytes']} B"
    if kind == "request_loop_shaped":
        return (
            f"request, loop-shaped ({size}, after a stream of {figures['stream_messages']} x "
            f"{figures['stream_message_bytes']} B)"
        )
    if kind in ("request", "delta"):
        return f"{kind}, hot ({size})"
    return f"{kind} ({size})"


def _http_text(report: dict[str, Any]) -> list[str]:
    """One line per mode of the HTTP baseline (issue 17), when the report has it."""
    raw = report.get("http_baseline")
    if not raw:
        return []
    lines = ["", "WebSocket against HTTP (asyncio driver, wall ms per loop, cost off / on):"]
    for mode in HTTP_MODES:
        off, on = (raw[c]["modes"][mode]["wall_ms_per_loop"] for c in ("cost_off", "cost_on"))
        lines.append(f"  {mode:12} {_fmt(off)} / {_fmt(on)}")
    return lines


def _paced_text(c: dict[str, Any]) -> str:
    """One line of a paced-sessions figure: latency beside the server's CPU time."""
    loaded, alone = c["loaded"], c["baseline"]
    text = (
        f"event latency p50 {_fmt(loaded['event_latency_ms']['p50'])} ms, p99 "
        f"{_fmt(loaded['event_latency_ms']['p99'])} ms (1 session: "
        f"{_fmt(alone['event_latency_ms']['p50'])} / {_fmt(alone['event_latency_ms']['p99'])}); "
        f"jitter p99 {_fmt(loaded['jitter_ms']['p99'])} ms; "
        f"{_fmt(c['achieved_events_per_s'])} events/s, server CPU "
        f"{c['server_cpu_utilisation']:.0%}"
    )
    if "run_cpu_us_per_event" in c:
        text += (
            f", {_fmt(c['run_cpu_us_per_event'])} us per paced event "
            f"(+ {_fmt(c['connection_cpu_us'])} us per connection opened and closed; "
            f"all in {_fmt(c['server_cpu_us_per_event'])} us per event)"
        )
    elif "server_cpu_us_per_event" in c:  # reports before the CPU time was read by phase
        text += f", {_fmt(c['server_cpu_us_per_event'])} us per event"
    return text


_MODE_NAMES = {
    "a": "(a) one connection, `previous_response_id`",
    "a_lean": "(a') as (a), instructions and tools on turn 1 only",
    "b": "(b) new connection per turn, full resend",
    "c": "(c) new connection per turn, `previous_response_id`, `store: true`",
}


def render_markdown(report: dict[str, Any]) -> str:
    """The figures of docs/benchmarks.md as Markdown tables (targets, tool loop, the rest)."""
    out = [
        "| Target | Driver | Measured | Target | Met | The same in CPU time |",
        "|---|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        cpu = _fmt(t["server_cpu"]) if "server_cpu" in t else ""
        out.append(
            f"| {t['what']} | {t.get('driver', '-')} | {_fmt(t['measured'])} | "
            f"{t['op']} {_fmt(t['target'])} | {'yes' if t['met'] else '**no**'} | {cpu} |"
        )
    for io, driver in report["drivers"].items():
        for cost, modes in driver["tool_loop"].items():
            out += [
                "",
                f"**Tool loop, {io} driver, cost model {'off' if cost == 'cost_off' else 'on'}** "
                f"(20 turns, medians of {next(iter(modes.values()))['reps']} loops)",
                "",
                "| Mode | Wall ms/turn (p50) | Wall ms, 20 turns | Server CPU ms/turn | "
                "Client->server bytes | On the wire | Uncached input tokens | "
                "Bytes / (b) | Wall / (b) | Tokens / (b) |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            ratios = driver["ratios"][cost]
            for mode, m in modes.items():
                r = ratios.get(f"{mode}_over_b")
                rb = (
                    f"{r['c2s_payload_bytes_total']:.3f} | {r['wall_ms_total']:.3f} | "
                    f"{r['uncached_input_tokens_total']:.3f}"
                    if r
                    else "1 | 1 | 1"
                )
                out.append(
                    f"| {_MODE_NAMES[mode]} | {m['wall_ms_turn_p50']:.2f} | "
                    f"{m['wall_ms_total']:.1f} | {m['server_cpu_ms_per_turn']:.2f} | "
                    f"{m['c2s_payload_bytes_total']:,.0f} | {m['c2s_wire_bytes_total']:,.0f} | "
                    f"{m['uncached_input_tokens_total']:,.0f} | {rb} |"
                )
    out += [
        "",
        "| Figure | " + " | ".join(report["drivers"]) + " |",
        "|---|" + "---|" * len(report["drivers"]),
    ]

    def row(name: str, get: Any) -> None:
        out.append(f"| {name} | " + " | ".join(get(d) for d in report["drivers"].values()) + " |")

    row("create->created, turn 1 (us)", lambda d: _fmt(d["overhead"]["turn_1_us"]))
    row("create->created, turn 50 (us)", lambda d: _fmt(d["overhead"]["turn_last_us"]))
    row(
        "create->created p50 / p99 (us)",
        lambda d: f"{_fmt(d['overhead']['p50_us'])} / {_fmt(d['overhead']['p99_us'])}",
    )
    row("slope (us per turn)", lambda d: _fmt(d["overhead"]["slope_us_per_turn"]))
    if all("p50_over_loop_floor" in d["overhead"] for d in report["drivers"].values()):
        row(
            "create->created p50 / loop-shaped echo floor, / hot echo floor",
            lambda d: (
                f"{_fmt(d['overhead']['p50_over_loop_floor'])}, "
                f"{_fmt(d['overhead']['p50_over_hot_floor'])}"
            ),
        )
    row(
        "server CPU per whole turn, turn 1 / 50 (us)",
        lambda d: (
            f"{_fmt(d['overhead']['server_cpu_turn_1_us'])} / "
            f"{_fmt(d['overhead']['server_cpu_turn_last_us'])}"
        ),
    )
    row("delta events/s, streaming", lambda d: _fmt(d["throughput"]["stream_events_per_s"]))
    row(
        "delta events/s, create to terminal",
        lambda d: _fmt(d["throughput"]["end_to_end_events_per_s"]),
    )
    row(
        "delta events per server CPU second",
        lambda d: _fmt(d["throughput"]["events_per_server_cpu_s"]),
    )
    row("first delta after create (ms)", lambda d: _fmt(d["throughput"]["first_delta_ms"]))
    for run, label in (("baseline", "1 session"), ("loaded", "loaded")):
        row(
            f"event latency p50 / p99, {label} (ms)",
            lambda d, run=run: (
                f"{_fmt(d['concurrency'][run]['event_latency_ms']['p50'])} / "
                f"{_fmt(d['concurrency'][run]['event_latency_ms']['p99'])}"
            ),
        )
        row(
            f"create->created p50 / p99, {label} (ms)",
            lambda d, run=run: (
                f"{_fmt(d['concurrency'][run]['created_ms']['p50'])} / "
                f"{_fmt(d['concurrency'][run]['created_ms']['p99'])}"
            ),
        )
    row(
        "events/s achieved (offered)",
        lambda d: (
            f"{_fmt(d['concurrency']['achieved_events_per_s'])} "
            f"({_fmt(d['concurrency']['offered_events_per_s'])})"
        ),
    )
    row(
        "event latency p99, loaded / 1 session",
        lambda d: _fmt(d["concurrency"].get("p99_over_single_p99", math.nan)),
    )
    row(
        "server CPU per paced event (us)",
        lambda d: _fmt(d["concurrency"].get("run_cpu_us_per_event", math.nan)),
    )
    row(
        "server CPU per connection, opened and closed (us)",
        lambda d: _fmt(d["concurrency"].get("connection_cpu_us", math.nan)),
    )
    row(
        "server CPU per event, connections included (us)",
        lambda d: _fmt(d["concurrency"].get("server_cpu_us_per_event", math.nan)),
    )
    row(
        "server CPU per paced event / the paced floor of its layer",
        lambda d: _fmt(d["concurrency"].get("run_cpu_over_floor", math.nan)),
    )
    row(
        "conformance suite (s, exit status)",
        lambda d: (
            f"{d['suite']['seconds']:.1f}, {d['suite']['exit_status']}" if "suite" in d else "-"
        ),
    )
    paced = {io: kinds["paced"] for io, kinds in report["floor"].items() if "paced" in kinds}
    if paced:
        first = next(iter(paced.values()))
        out += [
            "",
            f"**The paced floor**: the echo server's paced stream, {first['sessions']} sessions "
            f"x {first['messages_per_session']} messages of {first['message_bytes']} bytes, "
            f"{first['pacing_ms']} ms apart",
            "",
            "| Figure | " + " | ".join(f"websockets {io}" for io in paced) + " |",
            "|---|" + "---|" * len(paced),
        ]
        floor_rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            (
                "message latency p50 / p99, 1 session (ms)",
                lambda c: (
                    f"{_fmt(c['baseline']['event_latency_ms']['p50'])} / "
                    f"{_fmt(c['baseline']['event_latency_ms']['p99'])}"
                ),
            ),
            (
                "message latency p50 / p99, loaded (ms)",
                lambda c: (
                    f"{_fmt(c['loaded']['event_latency_ms']['p50'])} / "
                    f"{_fmt(c['loaded']['event_latency_ms']['p99'])}"
                ),
            ),
            ("server CPU per paced message (us)", lambda c: _fmt(c["run_cpu_us_per_event"])),
            (
                "server CPU per connection, opened and closed (us)",
                lambda c: _fmt(c["connection_cpu_us"]),
            ),
        ]
        for name, get in floor_rows:
            out.append(f"| {name} | " + " | ".join(get(c) for c in paced.values()) + " |")
    if report.get("http_baseline"):
        out += [
            "",
            "**WebSocket against HTTP** (issue 17)",
            "",
            *render_http_baseline(report["http_baseline"]),
        ]
    return "\n".join(out)

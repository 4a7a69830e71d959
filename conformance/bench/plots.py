"""PNG figures of a benchmark report, for docs/benchmarks.md (matplotlib, Agg backend).

:func:`draw_all` draws every figure from a finished report (``responses-ws bench --plots DIR``
or ``--from-json FILE --plots DIR``) and returns the paths written. Nothing is measured here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.bench.report import TARGETS, overhead_floor_us

__all__ = ["draw_all"]

_MODE_LABELS = {
    "a": "(a) WebSocket continuation",
    "a_lean": "(a') continuation, new items only",
    "b": "(b) new connection, full resend",
    "c": "(c) new connection, hydration",
}
_DRIVER_STYLE = {"asyncio": "-", "trio": "--"}
# (c) sends the bytes of (a) and has the uncached tokens of (b): dotted and wider so that the
# line underneath stays visible.
_MODE_STYLE = {"a": "-", "a_lean": "-", "b": "-", "c": ":"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tool_loop_wall(report: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    for ax, cost in zip(axes, ("cost_off", "cost_on"), strict=True):
        for io, driver in report["drivers"].items():
            modes = driver["tool_loop"][cost]
            for index, (mode, figures) in enumerate(modes.items()):
                turns = range(1, len(figures["wall_ms_per_turn"]) + 1)
                ax.plot(
                    turns,
                    figures["wall_ms_per_turn"],
                    _DRIVER_STYLE.get(io, ":"),
                    color=f"C{index}",
                    label=f"{_MODE_LABELS[mode]} [{io}]",
                )
        title = "cost model off" if cost == "cost_off" else "cost model on"
        ax.set_title(f"Wall time per turn, {title}")
        ax.set_xlabel("turn")
        ax.set_xticks(range(1, report["settings"]["turns"] + 1, 2))
        ax.set_ylabel("ms (median)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = out / "tool-loop-wall.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _tool_loop_bytes(report: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    driver = next(iter(report["drivers"].values()))
    modes = driver["tool_loop"]["cost_off"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (mode, figures) in enumerate(modes.items()):
        per_turn = figures["c2s_payload_bytes_per_turn"]
        cumulative = [sum(per_turn[: i + 1]) / 1024 for i in range(len(per_turn))]
        turns = range(1, len(per_turn) + 1)
        style = {"linestyle": _MODE_STYLE[mode], "linewidth": 3 if mode == "c" else 1.5}
        left.plot(turns, cumulative, color=f"C{index}", label=_MODE_LABELS[mode], **style)
        right.plot(
            turns,
            figures["uncached_input_tokens_per_turn"],
            color=f"C{index}",
            label=_MODE_LABELS[mode],
            **style,
        )
    left.set_title("Client-to-server payload, cumulative")
    left.set_ylabel("KiB")
    right.set_title("Uncached input tokens per turn (prefill work)")
    right.set_ylabel("tokens")
    for ax in (left, right):
        ax.set_xlabel("turn")
        ax.set_xticks(range(1, len(turns) + 1, 2))
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    left.legend(fontsize=8)
    fig.tight_layout()
    path = out / "tool-loop-bytes-tokens.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _overhead(report: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for index, (io, driver) in enumerate(report["drivers"].items()):
        per_turn = driver["overhead"]["us_per_turn"]
        turns = range(1, len(per_turn) + 1)
        ax.plot(turns, per_turn, color=f"C{index}", label=f"{io} server, wall time")
        cpu = driver["overhead"].get("server_cpu_us_per_turn")
        if cpu:
            ax.plot(turns, cpu, "--", color=f"C{index}", label=f"{io} server, its CPU time")
    # The target's floor is the loop-shaped one; a report made before it has the hot one only.
    floors = report["floor"]["asyncio"]
    floor = overhead_floor_us(report)
    if "request_loop_shaped" in floors:
        hot = floors["request"]["p50_us"]
        hot_label = f"hot echo floor (asyncio), {hot:.0f} us"
        ax.axhline(hot, color="grey", linestyle=":", label=hot_label)
        kind = "loop-shaped echo floor"
    else:
        kind = "echo floor"
    ax.axhline(floor, color="black", linestyle=":", label=f"{kind} (asyncio), {floor:.0f} us")
    bound = TARGETS["overhead_p50_over_floor"][2]
    ax.axhline(bound * floor, color="grey", linestyle="--", label=f"target: {bound:g}x {kind}")
    ax.set_title("Continuation overhead: response.create -> response.created")
    ax.set_xlabel("turn (one connection, previous_response_id)")
    ax.set_ylabel("us (median)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "continuation-overhead.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(report: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    drivers = list(report["drivers"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    stream = [report["drivers"][io]["throughput"]["stream_events_per_s"] / 1e3 for io in drivers]
    e2e = [report["drivers"][io]["throughput"]["end_to_end_events_per_s"] / 1e3 for io in drivers]
    per_cpu = [
        report["drivers"][io]["throughput"]["events_per_server_cpu_s"] / 1e3 for io in drivers
    ]
    xs = range(len(drivers))
    left.bar([x - 0.27 for x in xs], stream, width=0.27, label="streaming (first to last delta)")
    left.bar(list(xs), e2e, width=0.27, label="end to end (create to terminal)")
    left.bar([x + 0.27 for x in xs], per_cpu, width=0.27, label="per server CPU second")
    checker = report["checker"]
    left.bar(
        [len(drivers) - 0.14],
        [checker["events_per_s"] / 1e3],
        width=0.27,
        color="C3",
        label="checker, events checked per second",
    )
    left.bar(
        [len(drivers) + 0.14],
        [checker.get("events_per_cpu_s", 0.0) / 1e3],
        width=0.27,
        color="C4",
        label="checker, per CPU second",
    )
    left.axhline(40, color="black", linestyle="--", label="target 40k (server)")
    left.axhline(100, color="grey", linestyle=":", label="target 100k (checker)")
    left.set_xticks([*xs, len(drivers)], [*drivers, "checker"])
    left.set_ylabel("thousand events/s")
    left.set_title("Delta events per second, one connection")
    left.legend(fontsize=7)
    width = 0.2
    labels = (
        "event lateness\np50",
        "event lateness\np99",
        "create->created\np50",
        "create->created\np99",
    )
    for index, io in enumerate(drivers):
        for offset, (run, hatch) in enumerate((("baseline", "//"), ("loaded", ""))):
            figures = report["drivers"][io]["concurrency"][run]
            values = [
                max(figures["event_latency_ms"]["p50"], 0.01),
                max(figures["event_latency_ms"]["p99"], 0.01),
                figures["created_ms"]["p50"],
                figures["created_ms"]["p99"],
            ]
            position = (2 * index + offset - 1.5) * width
            right.bar(
                [i + position for i in range(4)],
                values,
                width=width,
                color=f"C{index}",
                hatch=hatch,
                alpha=0.55 if hatch else 1.0,
                label=f"{io}, {'1 session' if run == 'baseline' else 'loaded'}",
            )
    sessions = report["drivers"][drivers[0]]["concurrency"]["sessions"]
    right.set_xticks(range(4), labels, fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("ms (log scale)")
    right.set_title(f"Latency, {sessions} concurrent paced sessions vs 1 session")
    right.legend(fontsize=8)
    fig.tight_layout()
    path = out / "throughput-latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_all(report: dict[str, Any], out: Path) -> list[Path]:
    """Draw every figure of ``report`` into ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        _tool_loop_wall(report, out),
        _tool_loop_bytes(report, out),
        _overhead(report, out),
        _throughput(report, out),
    ]

"""Figures, the rules that judge them, and the check result a probe becomes.

A probe measures; this module decides (sans-I/O, so that the rules are unit-tested):

* :class:`Figure` is one measured value with its unit (``None``: not measured, and the
  probe says why in a note);
* :class:`Rule` compares one figure with a limit. The limits are those the server declared
  (``max-message-size``, ``max-queued-requests``, ``max-queued-bytes``) or the thresholds of
  the stress parameters (issue 18's numbers by default, ``--stress-param`` to change them);
* :class:`ProbeReport` is a probe's outcome: what was sent, what came back, how it was
  measured, its figures and rules. Its verdict is WARNING when a rule is broken and
  INFORMATIONAL otherwise: stress figures are data about a server, never a conformance
  verdict (stress is not a profile), so a probe never PASSES or FAILS;
* :func:`latency_stats` and :func:`memory_stats` turn the samples of the latency monitor and
  of the process sampler into figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.results import CheckResult, Verdict
from conformance.stress.monitor import LatencySample
from conformance.stress.procfs import ProcessSample

__all__ = [
    "Figure",
    "LatencyStats",
    "MemoryStats",
    "ProbeReport",
    "Rule",
    "at_most",
    "latency_rule",
    "latency_stats",
    "memory_stats",
    "mib",
    "percentile",
    "retained_rule",
]


def mib(kb: int | None) -> float | None:
    """kB (what /proc reports, 1024 bytes) to MiB."""
    return None if kb is None else kb / 1024


@dataclass(frozen=True)
class Figure:
    """One measured value."""

    key: str  # stable, for report.json: "peak_rss_mib"
    label: str  # for people: "server peak RSS"
    value: float | int | str | None
    unit: str = ""
    grouped: bool = True  # thousands separators (not for a code: close 1008)

    def text(self) -> str:
        """The value with its unit, ``n/a`` when not measured."""
        if self.value is None:
            return "n/a"
        if isinstance(self.value, float):
            shown = f"{self.value:,.3f}" if abs(self.value) < 10 else f"{self.value:,.1f}"
        elif isinstance(self.value, int):
            shown = f"{self.value:,}" if self.grouped else str(self.value)
        else:
            shown = self.value
        return f"{shown} {self.unit}".rstrip()


@dataclass(frozen=True)
class Rule:
    """One comparison of a figure with a limit; ``broken`` makes the probe a WARNING."""

    text: str
    broken: bool


def _num(value: float, unit: str) -> str:
    return f"{value:,.3f} {unit}" if abs(value) < 10 else f"{value:,.1f} {unit}"


def at_most(label: str, value: float | None, limit: float, unit: str, source: str) -> Rule | None:
    """``value <= limit``; None when the value was not measured (nothing to judge)."""
    if value is None:
        return None
    ok = value <= limit
    sign = "<=" if ok else ">"
    return Rule(f"{label} {_num(value, unit)} {sign} {_num(limit, unit)} ({source})", not ok)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class LatencyStats:
    """What the latency monitor saw during one window."""

    count: int  # requests in flight during the window
    lost: int  # of them, without response.created (timeout, error or close)
    p50: float | None  # over the answered ones
    p95: float | None
    max: float | None
    worst: float | None  # the longest wait, lost ones included (their wait until given up)
    outcomes: Mapping[str, int] = field(default_factory=dict)  # lost ones by outcome
    handshakes: int = 0
    handshake_max: float | None = None
    handshakes_lost: int = 0

    def figures(self, prefix: str = "", label: str = "") -> list[Figure]:
        """The figures, keys prefixed (``compressed_``) and labels suffixed (``(compressed)``)."""
        tail = f" ({label})" if label else ""
        out = [
            Figure(f"{prefix}latency_requests", f"monitor requests{tail}", self.count),
            Figure(f"{prefix}latency_p50_s", f"monitor response.created p50{tail}", self.p50, "s"),
            Figure(f"{prefix}latency_max_s", f"monitor response.created max{tail}", self.max, "s"),
            Figure(f"{prefix}latency_lost", f"monitor requests lost{tail}", self.lost),
        ]
        if self.handshakes:
            out.append(
                Figure(
                    f"{prefix}handshake_max_s",
                    f"monitor fresh handshake max{tail}",
                    self.handshake_max,
                    "s",
                )
            )
        if self.handshakes_lost:
            out.append(
                Figure(
                    f"{prefix}handshakes_lost",
                    f"monitor handshakes failed{tail}",
                    self.handshakes_lost,
                )
            )
        return out


def latency_stats(
    created: Iterable[LatencySample], handshakes: Iterable[LatencySample] = ()
) -> LatencyStats:
    """Summarise monitor samples (those of one window)."""
    samples = list(created)
    answered = [s.elapsed for s in samples if s.ok]
    lost = [s for s in samples if not s.ok]
    outcomes: dict[str, int] = {}
    for s in lost:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    shakes = list(handshakes)
    shake_times = [s.elapsed for s in shakes if s.ok]
    return LatencyStats(
        count=len(samples),
        lost=len(lost),
        p50=percentile(answered, 50),
        p95=percentile(answered, 95),
        max=max(answered) if answered else None,
        worst=max((s.elapsed for s in samples), default=None),
        outcomes=outcomes,
        handshakes=len(shakes),
        handshake_max=max(shake_times) if shake_times else None,
        handshakes_lost=sum(1 for s in shakes if not s.ok),
    )


def latency_rule(stats: LatencyStats | None, limit: float, what: str) -> Rule | None:
    """Another connection's response.created arrives within ``limit``: every monitor request
    in flight during the window was answered, and none later than the limit."""
    if stats is None or stats.count == 0:
        return None
    worst = stats.worst if stats.worst is not None else 0.0
    lost = ""
    if stats.lost:
        causes = ", ".join(f"{n} {o}" for o, n in sorted(stats.outcomes.items()))
        lost = f"; {stats.lost} of {stats.count} requests got none ({causes})"
    ok = not stats.lost and worst <= limit
    sign = "<=" if ok else ">"
    return Rule(
        f"another connection's response.created {what}: longest wait {_num(worst, 's')} "
        f"{sign} {_num(limit, 's')} (limits.latency-s) over {stats.count} requests{lost}",
        not ok,
    )


@dataclass(frozen=True)
class MemoryStats:
    """The server process during one probe (MiB; CPU in seconds)."""

    before: float | None  # RSS just before the load
    peak: float | None  # highest RSS during the load (sampled, or VmHWM after a reset)
    end: float | None  # RSS when the load ended
    after: float | None  # RSS once the probe's connections had left and settled
    cpu_s: float | None  # server CPU time from the load's start to "after"
    samples: int
    peak_from: str  # "VmHWM" (kernel high-water mark, reset before the probe) or "samples"

    @property
    def growth(self) -> float | None:
        """Peak over before."""
        if self.peak is None or self.before is None:
            return None
        return self.peak - self.before

    @property
    def retained(self) -> float | None:
        """After over before: what the server kept once the connections left."""
        if self.after is None or self.before is None:
            return None
        return self.after - self.before

    def figures(self, prefix: str = "", label: str = "") -> list[Figure]:
        """The figures, keys prefixed (``bomb_``) and labels suffixed (``(bombs)``)."""
        tail = f" ({label})" if label else ""
        return [
            Figure(f"{prefix}rss_before_mib", f"server RSS before{tail}", self.before, "MiB"),
            Figure(
                f"{prefix}rss_peak_mib",
                f"server peak RSS, from {self.peak_from}{tail}",
                self.peak,
                "MiB",
            ),
            Figure(
                f"{prefix}rss_growth_mib",
                f"server RSS growth (peak - before){tail}",
                self.growth,
                "MiB",
            ),
            Figure(
                f"{prefix}rss_end_mib", f"server RSS when the load ended{tail}", self.end, "MiB"
            ),
            Figure(
                f"{prefix}rss_after_mib",
                f"server RSS after the connections left{tail}",
                self.after,
                "MiB",
            ),
            Figure(f"{prefix}server_cpu_s", f"server CPU time{tail}", self.cpu_s, "s"),
        ]


def retained_rule(memory: MemoryStats, limit: float, what: str = "") -> Rule | None:
    """What the server still holds once the probe's connections left, over what it held
    before the load (``what``: which load, for a probe of several): memory a server keeps
    for clients that are gone grows with every such client."""
    tail = f" ({what})" if what else ""
    return at_most(
        f"server RSS kept after the connections left (after - before){tail}",
        memory.retained,
        limit,
        "MiB",
        "limits.retained-mib",
    )


def memory_stats(
    samples: Sequence[ProcessSample],
    *,
    before: ProcessSample | None,
    t0: float,
    t1: float,
    after: ProcessSample | None,
    hwm_reset: bool,
) -> MemoryStats:
    """Summarise process samples: ``before`` the load, the load from ``t0`` to ``t1``, and
    ``after`` (the last sample, once the connections left). With ``hwm_reset`` the kernel's
    high-water mark (reset before the probe) counts for the peak too: it sees spikes between
    two samples."""
    during = [s for s in samples if t0 <= s.t <= t1]
    peak_kb = max((s.rss_kb for s in during), default=None)
    peak_from = "samples"
    if hwm_reset and after is not None and (peak_kb is None or after.hwm_kb > peak_kb):
        peak_kb = after.hwm_kb
        peak_from = "VmHWM"
    end = during[-1] if during else None
    cpu: float | None = None
    if before is not None and after is not None and None not in (before.cpu_s, after.cpu_s):
        assert before.cpu_s is not None
        assert after.cpu_s is not None
        cpu = after.cpu_s - before.cpu_s
    return MemoryStats(
        before=mib(before.rss_kb) if before else None,
        peak=mib(peak_kb),
        end=mib(end.rss_kb) if end else None,
        after=mib(after.rss_kb) if after else None,
        cpu_s=cpu,
        samples=len(during),
        peak_from=peak_from,
    )


@dataclass(frozen=True)
class ProbeReport:
    """A probe's outcome (module docstring)."""

    probe: str  # "slow-reader"
    title: str
    sent: str  # what the probe sent, in words
    came_back: str  # what came back, in words
    measured: str  # how this probe's own figures were measured
    figures: tuple[Figure, ...]
    rules: tuple[Rule, ...]
    notes: tuple[str, ...] = ()
    duration_s: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)
    server: str = ""  # the server it ran against: URL, and pid when memory was measured
    # How the server's memory and the other connection's latency were measured: the same
    # for every probe of a run, so the console says it once (report.json, per check).
    instruments: str = ""

    @property
    def check_id(self) -> str:
        """The check id in the reports."""
        return f"stress.{self.probe}"

    @property
    def verdict(self) -> Verdict:
        """WARNING when a rule is broken, INFORMATIONAL otherwise."""
        return Verdict.WARNING if any(r.broken for r in self.rules) else Verdict.INFORMATIONAL

    def headline(self) -> str:
        """The first line of the message: the broken rules, or that every rule held."""
        broken = [r.text for r in self.rules if r.broken]
        if broken:
            return "; ".join(broken)
        if self.rules:
            return "within the limits: " + "; ".join(r.text for r in self.rules)
        return "no limit could be judged: " + ("; ".join(self.notes) or "nothing was measured")

    def message(self) -> str:
        """The check's message: headline, what was sent and came back, the figures."""
        lines = [self.headline(), f"sent: {self.sent}", f"came back: {self.came_back}"]
        lines += [f"{'WARNING' if r.broken else 'ok'}: {r.text}" for r in self.rules]
        lines += [f"note: {n}" for n in self.notes]
        lines.append("figures: " + "; ".join(f"{f.label} {f.text()}" for f in self.figures))
        lines.append(f"measured: {self.measured}")
        if self.instruments:
            lines.append(f"instruments: {self.instruments}")
        if self.server:
            lines.append(f"server: {self.server}")
        return "\n".join(lines)

    def to_check(self) -> CheckResult:
        """The probe as a check of the run: no requirement (stress is not a profile), its
        figures and rules in ``details``."""
        return CheckResult(
            id=self.check_id,
            title=self.title,
            requirements=(),
            verdict=self.verdict,
            duration_s=round(self.duration_s, 3),
            message=self.message(),
            wire_log=(),
            requirement_verdicts={},
            details={
                "area": "stress",
                "server": self.server,
                "sent": self.sent,
                "came_back": self.came_back,
                "measured": self.measured,
                "instruments": self.instruments,
                "figures": {
                    f.key: {"label": f.label, "value": f.value, "unit": f.unit}
                    for f in self.figures
                },
                "rules": [{"text": r.text, "broken": r.broken} for r in self.rules],
                "notes": list(self.notes),
                "parameters": dict(self.params),
            },
        )

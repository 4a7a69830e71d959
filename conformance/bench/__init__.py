"""``responses-ws bench``: what WebSocket mode and the connection cache save, measured.

Every figure of one report is measured in one run, side by side, against reference servers
started as separate programs (``python -m reference_impl serve``; the suite never imports the
server). Modules: ``stats`` (medians and percentiles), ``fixture`` (the 20-turn tool loop),
``client`` (an asyncio WebSocket client that counts what it sends), ``servers`` (the spawned
servers, including the echo floor), ``measure`` (the measurements), ``report`` (targets,
ratios, text) and ``plots`` (PNG figures for the docs). ``docs/benchmarks.md`` explains each
figure and its definition.
"""

from __future__ import annotations

from conformance.bench.measure import BenchSettings, run_bench
from conformance.bench.report import render_text

__all__ = ["BenchSettings", "render_text", "run_bench"]

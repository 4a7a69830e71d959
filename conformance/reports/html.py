"""``report.html``: the run for a person, in one self-contained file.

No scripts, no external stylesheets, fonts or images: the file is mailed around and opened
from CI artefacts, so it must render anywhere. Collapsing uses ``<details>``. Layout:
a verdict banner with the exit-status reasons, the target, summary tables by area and by
level, then the failures (unexpected, stale baseline entries, expected) and warnings with
expected versus actual and their wire log, then every check, then every requirement.

Everything that comes from the run (ids, messages, wire text, target values) passes through
``html.escape(..., quote=True)``: a server under test controls the wire text, and a report
must not become a way to run script in a reader's browser.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.baseline import (
    StaleEntry,
    exit_reasons,
    exit_status,
    expected_failure_reason,
    is_unexpected_failure,
)
from conformance.reports._common import (
    LEVEL_ORDER,
    VERDICT_ORDER,
    area_of,
    check_level,
    count_verdicts,
    ordered_for_people,
    requirement_summaries,
    stale_check_ids,
    to_jsonable,
)
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, Verdict

__all__ = ["WIRE_TEXT_LIMIT", "build_html", "write_html"]

# A wire message longer than this is cut in the HTML (report.json keeps it whole), so that a
# server streaming megabytes cannot make the page unreadable.
WIRE_TEXT_LIMIT = 4000

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:72em;
padding:0 1em;color:#1d1d1f}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:left;vertical-align:top}th{background:#f5f5f7}td.n{text-align:right}
.banner{padding:.6em 1em;border-radius:6px;font-weight:600}
.ok{background:#e3f6e8}.bad{background:#fde2e1}
.v{display:inline-block;padding:0 .45em;border-radius:4px;font-size:.85em;font-weight:600}
.v-PASSED{background:#cdeed6}.v-FAILED{background:#f8c4c1}.v-WARNING{background:#fbe7b0}
.v-INFORMATIONAL{background:#d6e6fb}.v-SKIPPED{background:#e5e5ea}.v-XFAIL{background:#eadcf8}
.v-STALE{background:#f8c4c1}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f8f8fa;padding:.5em;margin:.3em 0}
.wire td{font:12px ui-monospace,Menlo,Consolas,monospace}
.muted{color:#6e6e73}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(label: str) -> str:
    return f'<span class="v v-{_e(label)}">{_e(label)}</span>'


def _label(check: CheckResult, stale_ids: Mapping[str, str]) -> str:
    """The verdict as people read it: FAILED, STALE, XFAIL (expected failure), or the verdict."""
    if is_unexpected_failure(check):
        return "FAILED"
    if check.id in stale_ids:
        return "STALE"
    if expected_failure_reason(check) is not None:
        return "XFAIL"
    return check.verdict.value


def _anchor(check_id: str) -> str:
    return "check-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in check_id)


def _cut(text: str) -> str:
    if len(text) <= WIRE_TEXT_LIMIT:
        return text
    return f"{text[:WIRE_TEXT_LIMIT]} … ({len(text) - WIRE_TEXT_LIMIT} more characters)"


def _wire_cell(record: Mapping[str, Any]) -> str:
    kind = record.get("kind")
    if kind in ("text",):
        content = str(record.get("text", ""))
    elif kind == "binary":
        content = f"binary, base64: {record.get('b64', '')}"
    elif kind == "close":
        content = f"close code={record.get('code')} reason={record.get('reason', '')!r}"
    elif kind in ("open", "rejected"):
        content = f"{record.get('url', '')} status={record.get('status')}"
    else:
        rest = {k: v for k, v in record.items() if k not in ("ts", "conn", "kind", "dir")}
        content = json.dumps(to_jsonable(rest), ensure_ascii=False)
    if record.get("note"):
        content += f"\nnote: {record['note']}"
    return _e(_cut(content))


def _wire_log(check: CheckResult, *, open_: bool) -> str:
    if not check.wire_log:
        return '<p class="muted">wire log: empty</p>'
    arrows = {"c2s": "→ server", "s2c": "← server"}
    rows = []
    for record in check.wire_log:
        ts = record.get("ts")
        ts_text = f"{ts:.4f}" if isinstance(ts, int | float) else ""
        direction = arrows.get(str(record.get("dir")), "")
        rows.append(
            f"<tr><td class=n>{_e(ts_text)}</td><td>{_e(record.get('conn', ''))}</td>"
            f"<td>{_e(direction)}</td><td>{_e(record.get('kind', ''))}</td>"
            f"<td><pre>{_wire_cell(record)}</pre></td></tr>"
        )
    attr = " open" if open_ else ""
    return (
        f"<details{attr}><summary>wire log ({len(check.wire_log)} records)</summary>"
        '<table class="wire"><tr><th>t (s)</th><th>conn</th><th>dir</th><th>kind</th>'
        f"<th>content</th></tr>{''.join(rows)}</table></details>"
    )


def _card(
    check: CheckResult, registry: Mapping[str, Requirement], stale_ids: Mapping[str, str]
) -> str:
    label = _label(check, stale_ids)
    parts = [
        f'<div class="card" id="{_e(_anchor(check.id))}">',
        f"<h3>{_badge(label)} <code>{_e(check.id)}</code></h3>",
        f"<p>{_e(check.title)}</p>",
        f"<p class=muted>level {_e(check_level(check, registry))} · requirements "
        f"{_e(', '.join(check.requirements) or '-')} · {check.duration_s:.3f} s</p>",
    ]
    reason = expected_failure_reason(check)
    if check.id in stale_ids:
        parts.append(f"<p><strong>Stale baseline entry:</strong> {_e(stale_ids[check.id])}</p>")
    elif reason is not None:
        parts.append(f"<p><strong>Expected failure:</strong> {_e(reason)}</p>")
    if check.message:
        parts.append(f"<p><strong>Expected vs actual</strong></p><pre>{_e(check.message)}</pre>")
    if check.requirement_verdicts:
        verdicts = ", ".join(f"{r} {v.value}" for r, v in check.requirement_verdicts.items())
        parts.append(f"<p class=muted>per requirement: {_e(verdicts)}</p>")
    parts.append(_wire_log(check, open_=label in ("FAILED", "STALE")))
    parts.append("</div>")
    return "\n".join(parts)


def _count_table(title: str, groups: Sequence[tuple[str, list[CheckResult]]]) -> str:
    columns = [v.value for v in VERDICT_ORDER]
    head = "".join(f"<th>{_e(c)}</th>" for c in ["checks", *columns, "expected failures"])
    rows = []
    for name, checks in groups:
        counts = count_verdicts(checks)
        cells = "".join(f"<td class=n>{counts[c]}</td>" for c in columns)
        rows.append(
            f"<tr><th>{_e(name)}</th><td class=n>{len(checks)}</td>{cells}"
            f"<td class=n>{counts['expected_failure']}</td></tr>"
        )
    return f"<table><tr><th>{_e(title)}</th>{head}</tr>{''.join(rows)}</table>"


def build_html(
    run: RunResult,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> str:
    """The HTML report of ``run`` as one string."""
    registry = registry if registry is not None else {}
    stale = tuple(stale)
    stale_ids = stale_check_ids(run, stale)
    status = exit_status(run, stale)
    reasons = exit_reasons(run, stale)
    counts = count_verdicts(run.checks)

    banner_text = "PASS" if status == 0 else "FAIL"
    reason_text = "; ".join(reasons) if reasons else "no unexpected failure, no stale entry"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>responses-ws conformance report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>responses-ws conformance report</h1>",
        f'<p class="banner {"ok" if status == 0 else "bad"}">{banner_text} '
        f"(exit status {status}): {_e(reason_text)}</p>",
        f"<p>Started {_e(run.started_at)}, took {run.duration_s:.2f} s, "
        f"{len(run.checks)} checks: "
        + ", ".join(f"{counts[v.value]} {_e(v.value)}" for v in VERDICT_ORDER)
        + f", of which {counts['expected_failure']} expected failures.</p>",
        "<h2>Target</h2><table>",
    ]
    for key, value in to_jsonable(dict(run.target)).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append(f"<tr><th>{_e(key)}</th><td>{_e(text)}</td></tr>")
    out.append("</table>")

    by_area: dict[str, list[CheckResult]] = {}
    by_level: dict[str, list[CheckResult]] = {level: [] for level in LEVEL_ORDER}
    for check in run.checks:
        by_area.setdefault(area_of(check), []).append(check)
        by_level[check_level(check, registry)].append(check)
    out.append("<h2>Summary</h2>")
    out.append(_count_table("area", sorted(by_area.items())))
    out.append(_count_table("level", [(lv, cs) for lv, cs in by_level.items() if cs]))

    ordered = ordered_for_people(run.checks, stale_ids)
    attention = [
        c for c in ordered if c.verdict in (Verdict.FAILED, Verdict.WARNING) or c.id in stale_ids
    ]
    out.append(f"<h2>Failures and warnings ({len(attention)})</h2>")
    if stale:
        out.append("<ul>")
        out.extend(f"<li>{_e(entry.message)}</li>" for entry in stale)
        out.append("</ul>")
    if not attention:
        out.append("<p>None.</p>")
    out.extend(_card(c, registry, stale_ids) for c in attention)

    out.append(f"<h2>All checks ({len(run.checks)})</h2>")
    out.append(
        "<table><tr><th>check</th><th>verdict</th><th>level</th><th>requirements</th>"
        "<th>s</th><th>title</th></tr>"
    )
    for check in run.checks:
        out.append(
            f'<tr><td><a href="#{_e(_anchor(check.id))}">{_e(check.id)}</a></td>'
            f"<td>{_badge(_label(check, stale_ids))}</td>"
            f"<td>{_e(check_level(check, registry))}</td>"
            f"<td>{_e(' '.join(check.requirements))}</td>"
            f"<td class=n>{check.duration_s:.3f}</td><td>{_e(check.title)}</td></tr>"
        )
    out.append("</table>")
    # The other checks get their cards (and wire logs) too, collapsed, below the table.
    shown = {c.id for c in attention}
    out.extend(_card(c, registry, stale_ids) for c in run.checks if c.id not in shown)

    out.append("<h2>Requirements</h2>")
    out.append("<table><tr><th>requirement</th><th>level</th><th>verdict</th><th>checks</th></tr>")
    for summary in requirement_summaries(run, registry):
        checks = ", ".join(f"{c} {v.value}" for c, v in summary.checks)
        text = registry[summary.id].text if summary.id in registry else ""
        out.append(
            f'<tr><td title="{_e(text)}">{_e(summary.id)}</td><td>{_e(summary.level or "-")}</td>'
            f"<td>{_badge(summary.verdict.value)}</td><td>{_e(checks)}</td></tr>"
        )
    out.append("</table></body></html>\n")
    return "\n".join(out)


def write_html(
    run: RunResult,
    path: str | Path,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> Path:
    """Write ``report.html`` to ``path`` and return the path."""
    path = Path(path)
    path.write_text(build_html(run, stale=stale, registry=registry), encoding="utf-8")
    return path

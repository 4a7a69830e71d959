"""``report.html``: the run for a person, in one self-contained file.

No scripts, no external stylesheets, fonts or images: the file is mailed around and opened
from CI artefacts, so it must render anywhere; its only outbound links go to the published
specification (``spec_base_url``, by default the project's site). Collapsing uses
``<details>``. Layout: a verdict banner with the exit-status reasons, the verdict counts and a
legend of the verdicts, then root cause first - "N requirements violated", each once with its
first evidence and the checks that saw it, the requirements blocked by them, those that could
not be tested - then a table of what failed, the failures (unexpected, stale baseline
entries, expected) and warnings with their requirements, expected versus actual and their wire
log (the record where a requirement broke is marked), then summary tables by area and by
level, the target, every check, and every requirement with its text.

Check anchors are the site's (``#check-cache-continue-store-false``, as docs/checks.md), so a
link can name a check on either.

Everything that comes from the run (ids, messages, wire text, target values) passes through
``html.escape(..., quote=True)``: a server under test controls the wire text, and a report
must not become a way to run script in a reader's browser.
"""

from __future__ import annotations

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
from conformance.reports._html import (
    DEFAULT_SPEC_BASE_URL,
    FINDING_SPLIT,
    WIRE_TEXT_LIMIT,
    SpecLinks,
    badge,
    check_anchor,
    cut,
    esc,
    findings,
    rendered,
    req_anchor,
    req_link,
    rid,
    spec_pages,
    wire_anchor,
)
from conformance.reports.html_causes import legend, root_causes
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, Verdict

__all__ = ["DEFAULT_SPEC_BASE_URL", "WIRE_TEXT_LIMIT", "build_html", "check_anchor", "write_html"]

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
.tiles{display:flex;gap:.6em;flex-wrap:wrap;margin:1em 0}
.tile{border-radius:6px;padding:.4em 1em;min-width:7em;text-align:center;background:#f5f5f7}
.tile b{display:block;font-size:1.8em;line-height:1.2}
.tile.t-FAILED{background:#f8c4c1}.tile.t-WARNING{background:#fbe7b0}
.tile.t-PASSED{background:#cdeed6}.tile.t-INFORMATIONAL{background:#d6e6fb}
.tile.zero{background:#f5f5f7;color:#6e6e73}
.reason{font-weight:400;font-size:.9em;margin-top:.3em}
.reqs{list-style:none;padding:0;margin:.3em 0}.reqs li{margin:.25em 0}
.reqs li.broken{border-left:4px solid #d93025;padding-left:.5em}
.finding{margin:.2em 0 .5em;padding:.3em .6em;background:#f8f8fa;border-left:3px solid #ccc;
font:12.5px/1.5 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
.finding .exp{color:#0b6b2f}.finding .act{color:#b3261e}
td.id{white-space:nowrap}tr.c2s td{background:#f4f8ff}tr.s2c td{background:#fff}
.rid,.cid{white-space:nowrap}.v-BLOCKED{background:#f3d9bd}
.tile.t-BLOCKED{background:#f3d9bd}
tr.hit td{background:#fde2e1 !important;border-top:2px solid #d93025;
border-bottom:2px solid #d93025}
.mark{color:#b3261e;font-weight:600;white-space:nowrap}
.legend{font-size:.9em}.legend td{border:none;padding:.1em .5em}
.cause{border-left:4px solid #d93025;padding:.2em .8em;margin:.8em 0}
.cause.blocked{border-left-color:#d98a25}
"""


def _label(check: CheckResult, stale_ids: Mapping[str, str]) -> str:
    """The verdict as people read it: FAILED, STALE, XFAIL (expected failure), or the verdict."""
    if is_unexpected_failure(check):
        return "FAILED"
    if check.id in stale_ids:
        return "STALE"
    if expected_failure_reason(check) is not None:
        return "XFAIL"
    return check.verdict.value


def _broken(check: CheckResult) -> list[str]:
    """The requirements this check found broken (FAILED first, then WARNING)."""
    failed = [r for r, v in check.requirement_verdicts.items() if v is Verdict.FAILED]
    warned = [r for r, v in check.requirement_verdicts.items() if v is Verdict.WARNING]
    return failed + warned


def _requirement_list(
    check: CheckResult, registry: Mapping[str, Requirement], spec: SpecLinks
) -> str:
    """Every requirement the check tested or concluded about, broken ones first, each with
    its verdict here, level, text and spec page."""
    broken = _broken(check)
    ids = broken + [
        r for r in (*check.requirements, *check.requirement_verdicts) if r not in broken
    ]
    items = []
    for req_id in dict.fromkeys(ids):
        verdict = check.requirement_verdicts.get(req_id)
        mark = badge(verdict.value) + " " if verdict is not None else ""
        known = registry.get(req_id)
        level = f" ({esc(known.level)})" if known else ""
        text = f" — {rendered(known.text)}" if known else ""
        where = f" {spec.link(req_id)}" if known or req_id in spec.pages else ""
        by = check.blocked_by.get(req_id)
        blocked = (
            f' <span class="muted">blocked by {" ".join(req_link(b) for b in by)}</span>'
            if by
            else ""
        )
        if req_id not in check.requirements and verdict is not None:
            blocked += ' <span class="muted">(seen on the way; reported under it)</span>'
        css = ' class="broken"' if req_id in broken else ""
        items.append(
            f"<li{css}>{mark}<strong>{req_link(req_id)}</strong>{level}{blocked}{text}{where}</li>"
        )
    return f'<ul class="reqs">{"".join(items)}</ul>'


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
    return esc(cut(content))


def _marks(check: CheckResult) -> dict[int, list[str]]:
    """Wire-log index -> the requirements whose violation (or failure) was seen there."""
    marks: dict[int, list[str]] = {}
    for e in check.evidence:
        if e.verdict not in (Verdict.FAILED, Verdict.WARNING):
            continue
        for index in e.records[:1]:  # the first record of a finding is where it broke
            found = marks.setdefault(index, [])
            if e.requirement not in found:
                found.append(e.requirement)
    return marks


def _wire_log(check: CheckResult, *, open_: bool) -> str:
    if not check.wire_log:
        return '<p class="muted">wire log: empty</p>'
    arrows = {"c2s": "→ server", "s2c": "← server"}
    marks = _marks(check)
    rows = []
    for index, record in enumerate(check.wire_log):
        ts = record.get("ts")
        ts_text = f"{ts:.4f}" if isinstance(ts, int | float) else ""
        direction = arrows.get(str(record.get("dir")), "")
        css = str(record.get("dir")) if record.get("dir") in arrows else ""
        mark = ""
        if index in marks:
            css += " hit"
            mark = f'<br><span class="mark">✗ {" ".join(rid(r) for r in marks[index])}</span>'
        rows.append(
            f'<tr class="{css.strip()}" id="{esc(wire_anchor(check.id, index))}">'
            f"<td class=n>{esc(ts_text)}{mark}</td>"
            f"<td>{esc(record.get('conn', ''))}</td>"
            f"<td>{esc(direction)}</td><td>{esc(record.get('kind', ''))}</td>"
            f"<td><pre>{_wire_cell(record)}</pre></td></tr>"
        )
    attr = " open" if open_ else ""
    marked = f", {len(marks)} marked ✗ where a requirement broke" if marks else ""
    return (
        f"<details{attr}><summary>wire log ({len(check.wire_log)} records{marked})</summary>"
        '<table class="wire"><tr><th>t (s)</th><th>conn</th><th>dir</th><th>kind</th>'
        f"<th>content</th></tr>{''.join(rows)}</table></details>"
    )


def _card(
    check: CheckResult,
    registry: Mapping[str, Requirement],
    stale_ids: Mapping[str, str],
    spec: SpecLinks,
) -> str:
    label = _label(check, stale_ids)
    parts = [
        f'<div class="card" id="{esc(check_anchor(check.id))}">',
        f'<h3>{badge(label)} <code class="cid">{esc(check.id)}</code></h3>',
        f"<p>{esc(check.title)}</p>",
        f"<p class=muted>level {esc(check_level(check, registry))} · {check.duration_s:.3f} s</p>",
    ]
    reason = expected_failure_reason(check)
    if check.id in stale_ids:
        parts.append(f"<p><strong>Stale baseline entry:</strong> {esc(stale_ids[check.id])}</p>")
    elif reason is not None:
        parts.append(f"<p><strong>Expected failure:</strong> {esc(reason)}</p>")
    if check.message:
        parts.append(f"<p><strong>Expected vs actual</strong></p>{findings(check.message)}")
    if check.requirements or check.requirement_verdicts:
        parts.append("<p><strong>Requirements</strong></p>")
        parts.append(_requirement_list(check, registry, spec))
    parts.append(_wire_log(check, open_=label in ("FAILED", "STALE", "BLOCKED")))
    parts.append("</div>")
    return "\n".join(parts)


def _tiles(counts: Mapping[str, int]) -> str:
    """The verdict counts as large tiles; a zero count is greyed."""
    tiles = []
    for verdict in VERDICT_ORDER:
        n = counts[verdict.value]
        css = f"tile t-{verdict.value}" if n else "tile zero"
        tiles.append(f'<div class="{css}"><b>{n}</b>{esc(verdict.value)}</div>')
    if counts["expected_failure"]:
        tiles.append(
            f'<div class="tile"><b>{counts["expected_failure"]}</b>expected failures</div>'
        )
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _what_failed(attention: Sequence[CheckResult], stale_ids: Mapping[str, str]) -> str:
    """One row per check that needs attention: its label, the requirements it found broken
    and the first finding of its message."""
    if not attention:
        return "<p>Nothing failed and nothing warned.</p>"
    rows = []
    for check in attention:
        broken = " ".join(req_link(r) for r in _broken(check)) or "-"
        first = (
            FINDING_SPLIT.split(check.message.strip().splitlines()[0])[0]
            if (check.message.strip())
            else ""
        )
        rows.append(
            f"<tr><td>{badge(_label(check, stale_ids))}</td>"
            f'<td class="id"><a href="#{esc(check_anchor(check.id))}">{esc(check.id)}</a></td>'
            f"<td>{broken}</td><td>{rendered(cut(first))}</td></tr>"
        )
    return (
        "<table><tr><th>verdict</th><th>check</th><th>requirements broken</th>"
        f"<th>first finding</th></tr>{''.join(rows)}</table>"
    )


def _count_table(title: str, groups: Sequence[tuple[str, list[CheckResult]]]) -> str:
    columns = [v.value for v in VERDICT_ORDER]
    head = "".join(f"<th>{esc(c)}</th>" for c in ["checks", *columns, "expected failures"])
    rows = []
    for name, checks in groups:
        counts = count_verdicts(checks)
        cells = "".join(f"<td class=n>{counts[c]}</td>" for c in columns)
        rows.append(
            f"<tr><th>{esc(name)}</th><td class=n>{len(checks)}</td>{cells}"
            f"<td class=n>{counts['expected_failure']}</td></tr>"
        )
    return f"<table><tr><th>{esc(title)}</th>{head}</tr>{''.join(rows)}</table>"


def build_html(
    run: RunResult,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
    spec_base_url: str = DEFAULT_SPEC_BASE_URL,
) -> str:
    """The HTML report of ``run`` as one string; spec references link to
    ``spec_base_url`` (the published site)."""
    registry = registry if registry is not None else {}
    stale = tuple(stale)
    stale_ids = stale_check_ids(run, stale)
    status = exit_status(run, stale)
    reasons = exit_reasons(run, stale)
    counts = count_verdicts(run.checks)

    spec = SpecLinks(spec_base_url, spec_pages())
    banner_text = "PASS" if status == 0 else "FAIL"
    reason_text = "; ".join(reasons) if reasons else "no unexpected failure, no stale entry"
    target_url = run.target.get("server_url") or run.target.get("url") or ""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>responses-ws conformance report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>responses-ws conformance report</h1>",
        f'<div class="banner {"ok" if status == 0 else "bad"}">{banner_text} '
        f'(exit status {status})<div class="reason">{esc(reason_text)}</div></div>',
        _tiles(counts),
        f"<p class=muted>{len(run.checks)} checks"
        + (f" against {esc(target_url)}" if target_url else "")
        + f", started {esc(run.started_at)}, took {run.duration_s:.2f} s; "
        + ", ".join(f"{counts[v.value]} {esc(v.value)}" for v in VERDICT_ORDER)
        + f", of which {counts['expected_failure']} expected failures.</p>",
        legend(),
        root_causes(run, registry, spec),
    ]

    ordered = ordered_for_people(run.checks, stale_ids)
    attention = [
        c for c in ordered if c.verdict in (Verdict.FAILED, Verdict.WARNING) or c.id in stale_ids
    ]
    out.append(f"<h2>What failed ({len(attention)} checks)</h2>")
    out.append(_what_failed(attention, stale_ids))
    out.append(f"<h2>Failures and warnings ({len(attention)})</h2>")
    if stale:
        out.append("<ul>")
        out.extend(f"<li>{esc(entry.message)}</li>" for entry in stale)
        out.append("</ul>")
    if not attention:
        out.append("<p>None.</p>")
    out.extend(_card(c, registry, stale_ids, spec) for c in attention)

    by_area: dict[str, list[CheckResult]] = {}
    by_level: dict[str, list[CheckResult]] = {level: [] for level in LEVEL_ORDER}
    for check in run.checks:
        by_area.setdefault(area_of(check), []).append(check)
        by_level[check_level(check, registry)].append(check)
    out.append("<h2>Summary</h2>")
    out.append(_count_table("area", sorted(by_area.items())))
    out.append(_count_table("level", [(lv, cs) for lv, cs in by_level.items() if cs]))

    out.append("<h2>Target</h2><table>")
    for key, value in to_jsonable(dict(run.target)).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append(f"<tr><th>{esc(key)}</th><td>{esc(text)}</td></tr>")
    out.append("</table>")

    out.append(f"<h2>All checks ({len(run.checks)})</h2>")
    out.append(
        "<table><tr><th>check</th><th>verdict</th><th>level</th><th>requirements</th>"
        "<th>s</th><th>title</th></tr>"
    )
    for check in run.checks:
        out.append(
            f'<tr><td><a href="#{esc(check_anchor(check.id))}">{esc(check.id)}</a></td>'
            f"<td>{badge(_label(check, stale_ids))}</td>"
            f"<td>{esc(check_level(check, registry))}</td>"
            f"<td>{' '.join(req_link(r) for r in check.requirements)}</td>"
            f"<td class=n>{check.duration_s:.3f}</td><td>{esc(check.title)}</td></tr>"
        )
    out.append("</table>")
    # The other checks get their cards (and wire logs) too, collapsed, below the table.
    shown = {c.id for c in attention}
    out.extend(_card(c, registry, stale_ids, spec) for c in run.checks if c.id not in shown)

    out.append("<h2>Requirements</h2>")
    out.append(
        "<table><tr><th>requirement</th><th>level</th><th>verdict</th><th>text</th>"
        "<th>checks</th></tr>"
    )
    for summary in requirement_summaries(run, registry):
        checks = ", ".join(
            f'<a href="#{esc(check_anchor(c))}">{esc(c)}</a> {esc(v.value)}'
            for c, v in summary.checks
        )
        text = rendered(registry[summary.id].text) if summary.id in registry else ""
        where = f"<br>{spec.link(summary.id)}" if summary.id in registry else ""
        by = (
            '<br><span class="muted">blocked by '
            f"{' '.join(req_link(b) for b in summary.blocked_by)}</span>"
            if summary.blocked_by
            else ""
        )
        out.append(
            f'<tr id="{esc(req_anchor(summary.id))}"><td><strong>{rid(summary.id)}</strong></td>'
            f"<td>{esc(summary.level or '-')}</td><td>{badge(summary.verdict.value)}{by}</td>"
            f"<td>{text}{where}</td><td>{checks}</td></tr>"
        )
    out.append("</table></body></html>\n")
    return "\n".join(out)


def write_html(
    run: RunResult,
    path: str | Path,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
    spec_base_url: str = DEFAULT_SPEC_BASE_URL,
) -> Path:
    """Write ``report.html`` to ``path`` and return the path."""
    path = Path(path)
    path.write_text(
        build_html(run, stale=stale, registry=registry, spec_base_url=spec_base_url),
        encoding="utf-8",
    )
    return path

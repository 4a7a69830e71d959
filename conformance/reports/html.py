"""``report.html``: the run for a person, in one self-contained file.

No scripts, no external stylesheets, fonts or images: the file is mailed around and opened
from CI artefacts, so it must render anywhere. Collapsing uses ``<details>``. Layout:
a verdict banner with the exit-status reasons, the verdict counts, a table of what failed,
then the failures (unexpected, stale baseline entries, expected) and warnings with their
requirements, expected versus actual and their wire log, then summary tables by area and by
level, the target, every check, and every requirement with its text.

Everything that comes from the run (ids, messages, wire text, target values) passes through
``html.escape(..., quote=True)``: a server under test controls the wire text, and a report
must not become a way to run script in a reader's browser.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance._paths import spec_dir
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


# The anchor `spec render` writes before each requirement statement of a spec page (the same
# pattern the docs generator reads; importing it from there would be a circular import).
_SPEC_ANCHOR = re.compile(r'<a id="(rws-[a-z]+-[0-9]+)"></a>')


def _spec_pages() -> dict[str, str]:
    """Requirement ID -> the spec page that states it; empty when the spec cannot be read
    (a finished run's report must still be written)."""
    found: dict[str, str] = {}
    try:
        for page in sorted(spec_dir().glob("*.md")):
            for anchor in _SPEC_ANCHOR.findall(page.read_text(encoding="utf-8")):
                found.setdefault(anchor.upper(), f"spec/{page.name}")
    except OSError:
        return {}
    return found


def _req_anchor(requirement_id: str) -> str:
    return "req-" + requirement_id.lower()


def _req_link(requirement_id: str) -> str:
    return f'<a href="#{_e(_req_anchor(requirement_id))}">{_e(requirement_id)}</a>'


# A message joins its findings with "; "; each finding that starts a new statement (an
# "expected ..." or a requirement's "RWS-..." verdict) goes on a line of its own.
_FINDING_SPLIT = re.compile(r";\s+(?=expected\b|RWS-[A-Z]+-\d+\b)")
_ACTUAL = re.compile(r"\s/\s(?=actual\b)")


def _findings(message: str) -> str:
    """The message as one block per finding, with "expected" and "actual" on separate,
    coloured lines."""
    blocks = []
    for line in message.strip().splitlines():
        for finding in _FINDING_SPLIT.split(line):
            parts = _ACTUAL.split(finding, maxsplit=1)
            if len(parts) == 2:
                expected, actual = (_e(part) for part in parts)
                body = f'<span class="exp">{expected}</span>\n<span class="act">{actual}</span>'
            else:
                body = _e(finding)
            blocks.append(f'<pre class="finding">{body}</pre>')
    return "".join(blocks)


def _broken(check: CheckResult) -> list[str]:
    """The requirements this check found broken (FAILED first, then WARNING)."""
    failed = [r for r, v in check.requirement_verdicts.items() if v is Verdict.FAILED]
    warned = [r for r, v in check.requirement_verdicts.items() if v is Verdict.WARNING]
    return failed + warned


def _requirement_list(
    check: CheckResult, registry: Mapping[str, Requirement], pages: Mapping[str, str]
) -> str:
    """Every requirement the check tested or concluded about, broken ones first, each with
    its verdict here, level, text and spec page."""
    broken = _broken(check)
    ids = broken + [
        r for r in (*check.requirements, *check.requirement_verdicts) if r not in broken
    ]
    items = []
    for rid in dict.fromkeys(ids):
        verdict = check.requirement_verdicts.get(rid)
        badge = _badge(verdict.value) + " " if verdict is not None else ""
        known = registry.get(rid)
        level = f" ({_e(known.level)})" if known else ""
        text = f" — {_e(known.text)}" if known else ""
        page = pages.get(rid)
        where = f' <span class="muted">{_e(page)}#{_e(rid.lower())}</span>' if page else ""
        css = ' class="broken"' if rid in broken else ""
        items.append(f"<li{css}>{badge}<strong>{_req_link(rid)}</strong>{level}{text}{where}</li>")
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
        css = str(record.get("dir")) if record.get("dir") in arrows else ""
        rows.append(
            f'<tr class="{css}"><td class=n>{_e(ts_text)}</td>'
            f"<td>{_e(record.get('conn', ''))}</td>"
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
    check: CheckResult,
    registry: Mapping[str, Requirement],
    stale_ids: Mapping[str, str],
    pages: Mapping[str, str],
) -> str:
    label = _label(check, stale_ids)
    parts = [
        f'<div class="card" id="{_e(_anchor(check.id))}">',
        f"<h3>{_badge(label)} <code>{_e(check.id)}</code></h3>",
        f"<p>{_e(check.title)}</p>",
        f"<p class=muted>level {_e(check_level(check, registry))} · {check.duration_s:.3f} s</p>",
    ]
    reason = expected_failure_reason(check)
    if check.id in stale_ids:
        parts.append(f"<p><strong>Stale baseline entry:</strong> {_e(stale_ids[check.id])}</p>")
    elif reason is not None:
        parts.append(f"<p><strong>Expected failure:</strong> {_e(reason)}</p>")
    if check.message:
        parts.append(f"<p><strong>Expected vs actual</strong></p>{_findings(check.message)}")
    if check.requirements or check.requirement_verdicts:
        parts.append("<p><strong>Requirements</strong></p>")
        parts.append(_requirement_list(check, registry, pages))
    parts.append(_wire_log(check, open_=label in ("FAILED", "STALE")))
    parts.append("</div>")
    return "\n".join(parts)


def _tiles(counts: Mapping[str, int]) -> str:
    """The verdict counts as large tiles; a zero count is greyed."""
    tiles = []
    for verdict in VERDICT_ORDER:
        n = counts[verdict.value]
        css = f"tile t-{verdict.value}" if n else "tile zero"
        tiles.append(f'<div class="{css}"><b>{n}</b>{_e(verdict.value)}</div>')
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
        broken = " ".join(_req_link(r) for r in _broken(check)) or "-"
        first = (
            _FINDING_SPLIT.split(check.message.strip().splitlines()[0])[0]
            if (check.message.strip())
            else ""
        )
        rows.append(
            f"<tr><td>{_badge(_label(check, stale_ids))}</td>"
            f'<td class="id"><a href="#{_e(_anchor(check.id))}">{_e(check.id)}</a></td>'
            f"<td>{broken}</td><td>{_e(_cut(first))}</td></tr>"
        )
    return (
        "<table><tr><th>verdict</th><th>check</th><th>requirements broken</th>"
        f"<th>first finding</th></tr>{''.join(rows)}</table>"
    )


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

    pages = _spec_pages()
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
        f'(exit status {status})<div class="reason">{_e(reason_text)}</div></div>',
        _tiles(counts),
        f"<p class=muted>{len(run.checks)} checks"
        + (f" against {_e(target_url)}" if target_url else "")
        + f", started {_e(run.started_at)}, took {run.duration_s:.2f} s; "
        + ", ".join(f"{counts[v.value]} {_e(v.value)}" for v in VERDICT_ORDER)
        + f", of which {counts['expected_failure']} expected failures.</p>",
    ]

    ordered = ordered_for_people(run.checks, stale_ids)
    attention = [
        c for c in ordered if c.verdict in (Verdict.FAILED, Verdict.WARNING) or c.id in stale_ids
    ]
    out.append(f"<h2>What failed ({len(attention)})</h2>")
    out.append(_what_failed(attention, stale_ids))
    out.append(f"<h2>Failures and warnings ({len(attention)})</h2>")
    if stale:
        out.append("<ul>")
        out.extend(f"<li>{_e(entry.message)}</li>" for entry in stale)
        out.append("</ul>")
    if not attention:
        out.append("<p>None.</p>")
    out.extend(_card(c, registry, stale_ids, pages) for c in attention)

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
        out.append(f"<tr><th>{_e(key)}</th><td>{_e(text)}</td></tr>")
    out.append("</table>")

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
            f"<td>{' '.join(_req_link(r) for r in check.requirements)}</td>"
            f"<td class=n>{check.duration_s:.3f}</td><td>{_e(check.title)}</td></tr>"
        )
    out.append("</table>")
    # The other checks get their cards (and wire logs) too, collapsed, below the table.
    shown = {c.id for c in attention}
    out.extend(_card(c, registry, stale_ids, pages) for c in run.checks if c.id not in shown)

    out.append("<h2>Requirements</h2>")
    out.append(
        "<table><tr><th>requirement</th><th>level</th><th>verdict</th><th>text</th>"
        "<th>checks</th></tr>"
    )
    for summary in requirement_summaries(run, registry):
        checks = ", ".join(
            f'<a href="#{_e(_anchor(c))}">{_e(c)}</a> {_e(v.value)}' for c, v in summary.checks
        )
        text = registry[summary.id].text if summary.id in registry else ""
        page = pages.get(summary.id)
        where = (
            f'<br><span class="muted">{_e(page)}#{_e(summary.id.lower())}</span>' if page else ""
        )
        out.append(
            f'<tr id="{_e(_req_anchor(summary.id))}"><td><strong>{_e(summary.id)}</strong></td>'
            f"<td>{_e(summary.level or '-')}</td><td>{_badge(summary.verdict.value)}</td>"
            f"<td>{_e(text)}{where}</td><td>{checks}</td></tr>"
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

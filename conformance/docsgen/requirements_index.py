"""The requirement index and the check catalogue, from the registry, the scenario registries
and the recorded reference runs.

``requirements.md`` lists every requirement of ``spec/requirements.yaml``: its text, level,
role and profile, a link to the spec page that states it, the checks that test it (the
server and client scenarios that declare it) and the verdicts of real runs. A server
requirement has two: the reference server run with the scripted model ``conformance-1``
(``docs/data/reference-report.json``) and run with a model that behaves like a real one
(``docs/data/reference-any-model-report.json``), so that a reader sees what a server with its
own model gets tested on. A client requirement has the verdict of the shipped reference
client adapter (``docs/data/reference-client-report.json``). ``make docs-report`` records all
three. ``checks.md`` lists every check with its requirements and its verdicts, so that a
failing check id from a report leads to the requirement it is about, and from there to the
spec text.

The verdicts are read from the committed reports, never recomputed: the page shows what a
real run said, and ``responses-ws docs generate --check`` fails when the page and the
reports disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from conformance.docsgen._markdown import banner, cell, code, relative_link
from conformance.docsgen.model_gaps import ANY_MODEL_ANCHOR, model_gaps
from conformance.harness.registry import Scenario
from conformance.model_coverage import ANY_MODEL, SCRIPTED, column_title, summary_line
from conformance.requirements import Requirement
from conformance.traceability import TraceMatrix, TraceRow, build_matrix

__all__ = [
    "ANY_MODEL_REPORT_PATH",
    "CHECKS_PAGE",
    "CLIENT_REPORT_PATH",
    "REPORT_PATH",
    "REQUIREMENTS_PAGE",
    "Declares",
    "RunData",
    "checks_page",
    "index",
]

REQUIREMENTS_PAGE = "requirements.md"
CHECKS_PAGE = "checks.md"
# The committed report of the reference server's run, relative to docs/.
REPORT_PATH = "data/reference-report.json"
# The reference server's run with a model other than conformance-1 (the "any model" column).
ANY_MODEL_REPORT_PATH = "data/reference-any-model-report.json"
# The client suite's run of the shipped reference adapter, relative to docs/.
CLIENT_REPORT_PATH = "data/reference-client-report.json"

# Verdicts are styled spans (docs/assets/site.css), not emoji: they must read the same in
# every browser, fonts or not.
_VERDICTS = ("PASSED", "FAILED", "WARNING", "INFORMATIONAL", "SKIPPED")
# How several checks' verdicts about one requirement combine: the worst one shows.
_WORST_FIRST = ("FAILED", "BLOCKED", "WARNING", "PASSED", "INFORMATIONAL")
# Client scenarios are listed as client.<id> (the client suite's check ids without the adapter).
_CLIENT_PREFIX = "client."


class Declares(Protocol):
    """A check that declares the requirements it tests (server or client scenario)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def profile(self) -> str: ...

    @property
    def requirements(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _ClientTested:
    """A client requirement the recorded client run tested (for the totals)."""

    status: str = "tested"


@dataclass(frozen=True)
class RunData:
    """What the pages need from the committed report (or nothing, before the first run)."""

    report: Mapping[str, Any] | None
    exclusions: Mapping[str, str]
    # The client suite's run of the shipped reference adapter (raw websockets), if recorded.
    client_report: Mapping[str, Any] | None = None
    # The reference server's run with a model other than conformance-1, if recorded.
    any_model_report: Mapping[str, Any] | None = None

    def reports(self) -> dict[str, Mapping[str, Any]]:
        """Column (scripted, any model) -> the server run recorded for it."""
        found = {SCRIPTED: self.report, ANY_MODEL: self.any_model_report}
        return {column: report for column, report in found.items() if report is not None}

    def matrices(self, requirements: Mapping[str, Requirement]) -> dict[str, TraceMatrix]:
        """Column -> the traceability matrix of the server requirements in that run."""
        return {
            column: build_matrix(report, requirements, self.exclusions, role="server")
            for column, report in self.reports().items()
        }

    def any_model(self) -> str:
        """The model of the any-model run (empty when none is recorded)."""
        return str(((self.any_model_report or {}).get("target") or {}).get("model") or "")

    def column_heading(self, column: str) -> str:
        """A verdict column's heading, naming the model of its run."""
        return column_title(column, self.any_model() or None).capitalize()

    def requirement_verdicts(self, column: str = SCRIPTED) -> dict[str, Mapping[str, Any]]:
        """Requirement id -> its entry of the ``requirements`` list of the column's report."""
        report = self.reports().get(column)
        if report is None:
            return {}
        entries = report.get("requirements") or []
        return {str(e.get("id")): e for e in entries if isinstance(e, Mapping)}

    def check_results(self, column: str = SCRIPTED) -> dict[str, Mapping[str, Any]]:
        """Check id -> its entry of the ``checks`` list of the column's report."""
        report = self.reports().get(column)
        if report is None:
            return {}
        return {str(c.get("id")): c for c in report.get("checks", [])}

    def client_verdicts(self) -> dict[str, Mapping[str, Any]]:
        """Requirement id -> its entry of the client report's ``requirements`` list."""
        if self.client_report is None:
            return {}
        entries = self.client_report.get("requirements") or []
        return {str(e.get("id")): e for e in entries if isinstance(e, Mapping)}

    def client_check_results(self) -> dict[str, Mapping[str, Any]]:
        """Client scenario id -> its check in the client report (``client.<adapter>.<id>``)."""
        if self.client_report is None:
            return {}
        found: dict[str, Mapping[str, Any]] = {}
        for check in self.client_report.get("checks", []):
            scenario = str(check.get("id", "")).split(".", 2)[-1]
            found.setdefault(scenario, check)
        return found

    def client_adapter(self) -> str:
        """The name of the adapter the client run tested."""
        clients = (self.client_report or {}).get("target", {}).get("clients") or [{}]
        return str(clients[0].get("name", "?"))


def _badge(verdict: str) -> str:
    if verdict not in _VERDICTS:
        return verdict
    return f'<span class="rws-verdict rws-{verdict.lower()}">{verdict}</span>'


def _spec_title(root: Path, page: str) -> str:
    """The H1 of a spec page without its number and attribute list."""
    path = root / page
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            title = re.sub(r"\s*\{#[^}]*\}\s*$", "", line[2:]).strip()
            return re.sub(r"^(\d+\.|Appendix [A-Z]:)\s*", "", title)
    return page


def _run_heading(run: RunData) -> list[str]:
    if run.report is None:
        return [
            '!!! warning "No reference run recorded"\n'
            f"    `docs/{REPORT_PATH}` is missing: run `make docs-report`.\n"
        ]
    lines = [
        "The verdicts come from runs of the conformance suite against the reference server, "
        "recorded by `make docs-report` (`make docs-generate` refreshes this page):\n",
        _server_run_line(run.report, REPORT_PATH, "with the scripted model"),
    ]
    if run.any_model_report is not None:
        lines.append(
            _server_run_line(
                run.any_model_report,
                ANY_MODEL_REPORT_PATH,
                "with a model that behaves like a real one (its own text, only the standard "
                "parameters obeyed), as a server running its own model is tested:",
            )
        )
    lines.append("")
    return [*("\n".join(lines),), *_client_heading(run)]


def _server_run_line(report: Mapping[str, Any], path: str, what: str) -> str:
    target = report.get("target") or {}
    summary = report.get("summary") or {}
    verdicts = summary.get("verdicts") or {}
    counts = ", ".join(f"{verdicts[v]} {v}" for v in _VERDICTS if verdicts.get(v))
    profiles = ", ".join(code(p) for p in target.get("profiles", []))
    return (
        f"- {what} {code(str(target.get('model', '?')))} — suite "
        f"{code(str(target.get('suite_version', '?')))}, {report.get('started_at', '?')}, "
        f"profiles {profiles}: {summary.get('total', '?')} checks, {counts} "
        f"(`docs/{path}`)."
    )


def _client_heading(run: RunData) -> list[str]:
    report = run.client_report
    if report is None:
        return []
    summary = report.get("summary") or {}
    verdicts = summary.get("verdicts") or {}
    counts = ", ".join(f"{verdicts[v]} {v}" for v in _VERDICTS if verdicts.get(v))
    return [
        "Client requirements show the verdicts of the client suite run on "
        f"{report.get('started_at', '?')} against the shipped reference adapter "
        f"{code(run.client_adapter())}: {summary.get('total', '?')} checks, {counts} "
        f"(recorded in `docs/{CLIENT_REPORT_PATH}`).\n"
    ]


def index(
    root: Path,
    requirements: Mapping[str, Requirement],
    scenarios: Sequence[Scenario],
    pages: Mapping[str, str],
    run: RunData,
    client_scenarios: Sequence[Declares] = (),
) -> str:
    """The requirement index page."""
    declared: dict[str, list[str]] = defaultdict(list)
    for s in scenarios:
        for requirement_id in s.requirements:
            if s.id not in declared[requirement_id]:
                declared[requirement_id].append(s.id)
    for c in client_scenarios:
        for requirement_id in c.requirements:
            declared[requirement_id].append(_CLIENT_PREFIX + c.id)
    matrices = run.matrices(requirements)
    # Column -> requirement id -> its row in that run's matrix (server requirements).
    columns: dict[str, dict[str, TraceRow]] = {
        column: {row.id: row for row in matrix.rows} for column, matrix in matrices.items()
    }
    status: dict[str, Any] = dict(columns.get(SCRIPTED, {}))
    if run.report is not None:
        client = build_matrix(run.report, requirements, run.exclusions, role="client")
        status.update({row.id: row for row in client.rows})

    out = [
        banner(
            "spec/requirements.yaml, conformance/scenarios/, conformance/clientsuite/, "
            f"docs/{REPORT_PATH}, docs/{ANY_MODEL_REPORT_PATH} and docs/{CLIENT_REPORT_PATH}"
        )
    ]
    out.append("# Requirement index\n")
    out.append(
        "Every normative statement of the specification, with its level (BCP 14), the role "
        "it binds, the profile it belongs to, the checks that test it, and the verdict of "
        "real runs. A server requirement has two verdicts: the reference server's with the "
        "scripted model `conformance-1`, which tests everything exactly, and its verdict with "
        "a model other than `conformance-1`, which is what a server running its own model "
        "gets tested on ([how to test one](guides/server-authors.md#own-model)). A client "
        "requirement has the verdict of the shipped reference client adapter. A conformance "
        "report cites these IDs; each has an anchor here (`requirements/#rws-cache-4`) and on "
        "its spec page.\n"
    )
    out.extend(_run_heading(run))
    client_verdicts = run.client_verdicts()
    for r in requirements.values():
        entry = client_verdicts.get(r.id)
        if r.role == "client" and entry is not None and entry.get("verdict") != "SKIPPED":
            status[r.id] = _ClientTested()
    if len(matrices) == 2:
        out.append(
            "**"
            + "; ".join(summary_line(matrices, level) for level in ("MUST", "SHOULD"))
            + ".**\n"
        )
    out.append(_totals(requirements, status, columns, run))
    entries = {column: run.requirement_verdicts(column) for column in columns}
    out.extend(model_gaps(requirements, matrices, _check_link))

    by_area: dict[str, list[Requirement]] = defaultdict(list)
    for r in requirements.values():
        by_area[r.area].append(r)
    for area, members in by_area.items():
        hosts = [pages[r.id] for r in members if r.id in pages]
        host = max(set(hosts), key=hosts.count) if hosts else ""
        title = _spec_title(root, host) if host else area
        link = f" — [{title}]({relative_link(REQUIREMENTS_PAGE, host)})" if host else ""
        out.append(f"## RWS-{area}{link} {{#area-{area.lower()}}}\n")
        headings = [run.column_heading(c) for c in (SCRIPTED, ANY_MODEL) if c in columns]
        if not headings:
            headings = ["Reference verdict"]
        out.append("| Requirement | Text | Checks | " + " | ".join(headings) + " |")
        out.append("|---|---|---|" + "---|" * len(headings))
        for r in members:
            out.append(_row(r, pages, declared.get(r.id, []), columns, entries, run))
        out.append("")
    return "\n".join(out)


def _totals(
    requirements: Mapping[str, Requirement],
    status: Mapping[str, Any],
    columns: Mapping[str, Mapping[str, TraceRow]],
    run: RunData,
) -> str:
    """Requirements per role and level, and how many each recorded run tested."""
    others = [c for c in (ANY_MODEL,) if c in columns]
    head = "| Role | Requirements | MUST | SHOULD | MAY | Tested | "
    head += "".join(f"Tested: {run.column_heading(c).lower()} | " for c in others)
    lines = [head + "Excluded | Untested |", "|---|" + "---:|" * (7 + len(others))]
    for role in ("server", "client"):
        members = [r for r in requirements.values() if r.role == role and r.status != "withdrawn"]
        levels = [r.level.split()[0] for r in members]
        states = [getattr(status.get(r.id), "status", "untested") for r in members]
        extra = "".join(
            f"{sum(1 for r in members if getattr(columns[c].get(r.id), 'status', '') == 'tested')}"
            " | "
            if role == "server"
            else "— | "
            for c in others
        )
        lines.append(
            f"| {role} | {len(members)} | {levels.count('MUST')} | {levels.count('SHOULD')} | "
            f"{levels.count('MAY')} | {states.count('tested')} | {extra}"
            f"{states.count('excluded')} | {states.count('untested')} |"
        )
    if others:
        lines.append(
            "\n*Tested*, *Excluded* and *Untested* count the run with the scripted model "
            "(server) and the reference adapter's run (client)."
        )
    return "\n".join(lines) + "\n"


def _row(
    r: Requirement,
    pages: Mapping[str, str],
    checks: Sequence[str],
    columns: Mapping[str, Mapping[str, TraceRow]],
    entries: Mapping[str, Mapping[str, Mapping[str, Any]]],
    run: RunData,
) -> str:
    anchor = r.id.lower()
    page = pages.get(r.id)
    name = f"[**{r.id}**]({relative_link(REQUIREMENTS_PAGE, page, anchor)})" if page else r.id
    head = f'<a id="{anchor}"></a>{name}<br>{r.level} · {r.role} · {code(r.profile)}'
    text = r.text if r.status != "withdrawn" else f"*(withdrawn)* {r.text}"
    check_links = "<br>".join(f"[{code(c)}]({_check_link(c)})" for c in checks)
    if r.role == "client":
        client_entry = run.client_verdicts().get(r.id)
        if client_entry is None or client_entry.get("verdict") == "SKIPPED":
            verdict = (
                "no client run recorded"
                if run.client_report is None
                else "untested (no client scenario that ran tests it)"
            )
        else:
            verdict = _verdict_with_failures(client_entry) + f" ({run.client_adapter()})"
        # The client suite has one run, against its scripted server: no model column.
        cells = [verdict] + ["—"] * (len(columns) - 1)
    else:
        cells = [
            _server_verdict(rows.get(r.id), entries[column].get(r.id))
            for column, rows in columns.items()
        ] or ["no run recorded"]
    return f"| {head} | {cell(text)} | {check_links} | " + " | ".join(map(cell, cells)) + " |"


def _server_verdict(row: TraceRow | None, entry: Mapping[str, Any] | None) -> str:
    """One run's verdict about a server requirement, or why that run did not test it."""
    if row is None:
        return "no run recorded"
    if row.status == "tested":
        if entry is None:  # judged by the checker only: the row's checks carry the verdicts
            said = [{"check": t.check, "verdict": t.verdict} for t in row.checks]
            found = {c["verdict"] for c in said}
            worst = next((v for v in _WORST_FIRST if v in found), said[0]["verdict"])
            entry = {"verdict": worst, "checks": said}
        return _verdict_with_failures(entry)
    if row.status == "excluded":
        return f"not tested: {row.reason}"
    return f"untested ({row.reason})"


def _verdict_with_failures(entry: Mapping[str, Any]) -> str:
    """The requirement's verdict badge, naming the checks that failed or warned."""
    verdict = _badge(str(entry.get("verdict", "")))
    failing = [
        str(c.get("check"))
        for c in entry.get("checks", [])
        if c.get("verdict") in ("FAILED", "WARNING")
    ]
    if failing:
        verdict += " in " + ", ".join(code(c) for c in failing)
    return verdict


def _check_anchor(check_id: str) -> str:
    return "check-" + re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")


def _check_link(check_id: str) -> str:
    """The link from the requirement index to a check of the catalogue."""
    return relative_link(REQUIREMENTS_PAGE, CHECKS_PAGE, _check_anchor(check_id))


def checks_page(
    requirements: Mapping[str, Requirement],
    scenarios: Sequence[Scenario],
    run: RunData,
    client_scenarios: Sequence[Declares] = (),
) -> str:
    """The catalogue of every check of the server suite."""
    results = {column: run.check_results(column) for column in run.reports()}
    out = [
        banner(
            "conformance/scenarios/, conformance/clientsuite/, "
            f"docs/{REPORT_PATH}, docs/{ANY_MODEL_REPORT_PATH} and docs/{CLIENT_REPORT_PATH}"
        )
    ]
    out.append("# Checks of the server suite\n")
    out.append(
        "Every check of `responses-ws check`, by area: its stable id (baselines and reports "
        "key on it), what it drives on the wire, the profile it needs, the requirements it "
        "tests and the reference server's verdicts: with the scripted model `conformance-1`, "
        "and with a model other than `conformance-1`. A check marked *+ model "
        "`conformance-1`* needs the scripted model; any other check runs with any model, "
        "and says which of its parts, if any, it skipped and why "
        "([what a model other than `conformance-1` leaves untested]"
        f"({relative_link(CHECKS_PAGE, REQUIREMENTS_PAGE, ANY_MODEL_ANCHOR)})). "
        "`responses-ws check --list` prints the same list; `--check ID` runs one check and "
        "`--requirement RWS-...` the checks of one requirement.\n"
    )
    out.extend(_run_heading(run))
    by_area: dict[str, list[Scenario]] = defaultdict(list)
    for s in scenarios:
        by_area[s.id.split(".", 1)[0]].append(s)
    for area, members in by_area.items():
        out.append(f"## {area} {{#area-{area}}}\n")
        headings = [run.column_heading(c) for c in results] or ["Reference server"]
        out.append("| Check | Requirements | Profile | " + " | ".join(headings) + " |")
        out.append("|---|---|---|" + "---|" * len(headings))
        for s in members:
            anchor = _check_anchor(s.id)
            profiles = ", ".join(code(p) for p in (s.profile, *s.extra_profiles))
            if s.needs_model:
                profiles += " + model `conformance-1`"
            reqs = ", ".join(
                f"[{r}]({relative_link(CHECKS_PAGE, REQUIREMENTS_PAGE, r.lower())})"
                if r in requirements
                else code(r)
                for r in s.requirements
            )
            verdicts = [
                _result_text(found.get(s.id)) + _skipped_parts(found.get(s.id))
                for found in results.values()
            ] or [_result_text(None)]
            head = (
                f'<a id="{anchor}"></a>{code(s.id)}<br>{cell(s.title)}'
                f"<br><small>drives: {cell(s.drives)}</small>"
            )
            out.append(
                f"| {head} | {reqs} | {profiles} | " + " | ".join(map(cell, verdicts)) + " |"
            )
        out.append("")
    if client_scenarios:
        out.extend(_client_checks(requirements, client_scenarios, run))
    return "\n".join(out)


def _skipped_parts(result: Mapping[str, Any] | None) -> str:
    """The requirements a check that ran left untested, with the reason it gave."""
    if result is None or result.get("verdict") == "SKIPPED":
        return ""
    said: Mapping[str, str] = result.get("requirement_verdicts") or {}
    details = result.get("details") or {}
    reasons: Mapping[str, str] = details.get("not_applicable") or {}
    parts = [
        f"{rid} ({reasons[rid]})" if reasons.get(rid) else rid
        for rid in result.get("requirements", [])
        if said.get(rid) == "SKIPPED"
    ]
    return "<br>skipped: " + "; ".join(parts) if parts else ""


def _result_text(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return "not in the recorded run"
    verdict = _badge(str(result.get("verdict", "")))
    message = str(result.get("message") or "")
    if message and result.get("verdict") != "PASSED":
        verdict += ": " + message
    return verdict


def _client_checks(
    requirements: Mapping[str, Requirement], scenarios: Sequence[Declares], run: RunData
) -> list[str]:
    """The client suite's scenarios, with the reference adapter's verdicts."""
    out = ["## Client suite {#area-client}\n"]
    out.append(
        "The scenarios of `responses-ws check-client`: each runs the client "
        "under test against a scripted server; a report names a check "
        "`client.<adapter>.<scenario>`. The verdicts are those of the shipped reference "
        f"adapter {code(run.client_adapter()) if run.client_report else '(no run recorded)'}.\n"
    )
    out.append("| Check | Requirements | Profile | Reference client |")
    out.append("|---|---|---|---|")
    results = run.client_check_results()
    for c in scenarios:
        anchor = _check_anchor(_CLIENT_PREFIX + c.id)
        reqs = ", ".join(
            f"[{r}]({relative_link(CHECKS_PAGE, REQUIREMENTS_PAGE, r.lower())})"
            if r in requirements
            else code(r)
            for r in c.requirements
        )
        head = f'<a id="{anchor}"></a>{code(_CLIENT_PREFIX + c.id)}<br>{cell(c.title)}'
        verdict = _result_text(results.get(c.id))
        out.append(f"| {head} | {reqs} | {code(c.profile)} | {cell(verdict)} |")
    out.append("")
    return out

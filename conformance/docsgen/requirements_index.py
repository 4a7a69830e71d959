"""The requirement index and the check catalogue, from the registry, the scenario registry
and the reference server's report.

``requirements.md`` lists every requirement of ``spec/requirements.yaml``: its text, level,
role and profile, a link to the spec page that states it, the checks that test it (the
scenarios that declare it) and the verdict the reference server got for it in the run
recorded in ``docs/data/reference-report.json`` (``make docs-report``). ``checks.md`` lists
every check with its requirements and its verdict, so that a failing check id from a report
leads to the requirement it is about, and from there to the spec text.

The verdicts are read from the committed report, never recomputed: the page shows what a
real run said, and ``responses-ws docs generate --check`` fails when the page and the
report disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.docsgen._markdown import banner, cell, code, relative_link
from conformance.harness.registry import Scenario
from conformance.requirements import Requirement
from conformance.traceability import build_matrix

__all__ = ["CHECKS_PAGE", "REPORT_PATH", "REQUIREMENTS_PAGE", "RunData", "checks_page", "index"]

REQUIREMENTS_PAGE = "requirements.md"
CHECKS_PAGE = "checks.md"
# The committed report of the reference server's run, relative to docs/.
REPORT_PATH = "data/reference-report.json"

# Verdicts are styled spans (docs/assets/site.css), not emoji: they must read the same in
# every browser, fonts or not.
_VERDICTS = ("PASSED", "FAILED", "WARNING", "INFORMATIONAL", "SKIPPED")


@dataclass(frozen=True)
class RunData:
    """What the pages need from the committed report (or nothing, before the first run)."""

    report: Mapping[str, Any] | None
    exclusions: Mapping[str, str]

    def requirement_verdicts(self) -> dict[str, Mapping[str, Any]]:
        """Requirement id -> its entry of the report's ``requirements`` list."""
        if self.report is None:
            return {}
        entries = self.report.get("requirements") or []
        return {str(e.get("id")): e for e in entries if isinstance(e, Mapping)}

    def check_results(self) -> dict[str, Mapping[str, Any]]:
        """Check id -> its entry of the report's ``checks`` list."""
        if self.report is None:
            return {}
        return {str(c.get("id")): c for c in self.report.get("checks", [])}


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
    report = run.report
    if report is None:
        return [
            '!!! warning "No reference run recorded"\n'
            "    `docs/data/reference-report.json` is missing: run `make docs-report`.\n"
        ]
    target = report.get("target") or {}
    summary = report.get("summary") or {}
    verdicts = summary.get("verdicts") or {}
    counts = ", ".join(
        f"{verdicts[v]} {v}"
        for v in ("PASSED", "FAILED", "WARNING", "INFORMATIONAL", "SKIPPED")
        if verdicts.get(v)
    )
    profiles = ", ".join(code(p) for p in target.get("profiles", []))
    return [
        f"The verdicts come from the run of the conformance suite "
        f"{code(str(target.get('suite_version', '?')))} against the reference server on "
        f"{report.get('started_at', '?')} (model {code(str(target.get('model', '?')))}, "
        f"profiles {profiles}): {summary.get('total', '?')} checks, {counts}. "
        "The run is recorded in `docs/data/reference-report.json`; `make docs-report` "
        "repeats it and `make docs-generate` refreshes this page.\n"
    ]


def index(
    root: Path,
    requirements: Mapping[str, Requirement],
    scenarios: Sequence[Scenario],
    pages: Mapping[str, str],
    run: RunData,
) -> str:
    """The requirement index page."""
    declared: dict[str, list[str]] = defaultdict(list)
    for s in scenarios:
        for requirement_id in s.requirements:
            if s.id not in declared[requirement_id]:
                declared[requirement_id].append(s.id)
    verdicts = run.requirement_verdicts()
    status: dict[str, Any] = {}
    for role in ("server", "client"):
        if run.report is not None:
            matrix = build_matrix(run.report, requirements, run.exclusions, role=role)
            status.update({row.id: row for row in matrix.rows})

    out = [banner("spec/requirements.yaml, conformance/scenarios/ and " + REPORT_PATH)]
    out.append("# Requirement index\n")
    out.append(
        "Every normative statement of the specification, with its level (BCP 14), the role "
        "it binds, the profile it belongs to, the checks of the server suite that test it, "
        "and the verdict the reference server got for it. A conformance report cites these "
        "IDs; each has an anchor here (`requirements/#rws-cache-4`) and on its spec page. "
        "The client suite is not built yet, so client requirements have no checks.\n"
    )
    out.extend(_run_heading(run))
    out.append(_totals(requirements, status))

    by_area: dict[str, list[Requirement]] = defaultdict(list)
    for r in requirements.values():
        by_area[r.area].append(r)
    for area, members in by_area.items():
        hosts = [pages[r.id] for r in members if r.id in pages]
        host = max(set(hosts), key=hosts.count) if hosts else ""
        title = _spec_title(root, host) if host else area
        link = f" — [{title}]({relative_link(REQUIREMENTS_PAGE, host)})" if host else ""
        out.append(f"## RWS-{area}{link} {{#area-{area.lower()}}}\n")
        out.append("| Requirement | Text | Checks | Reference server |")
        out.append("|---|---|---|---|")
        for r in members:
            out.append(_row(r, pages, declared.get(r.id, []), verdicts, status))
        out.append("")
    return "\n".join(out)


def _totals(requirements: Mapping[str, Requirement], status: Mapping[str, Any]) -> str:
    lines = [
        "| Role | Requirements | MUST | SHOULD | MAY | Tested | Excluded | Untested |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for role in ("server", "client"):
        members = [r for r in requirements.values() if r.role == role and r.status != "withdrawn"]
        levels = [r.level.split()[0] for r in members]
        states = [getattr(status.get(r.id), "status", "untested") for r in members]
        lines.append(
            f"| {role} | {len(members)} | {levels.count('MUST')} | {levels.count('SHOULD')} | "
            f"{levels.count('MAY')} | {states.count('tested')} | {states.count('excluded')} | "
            f"{states.count('untested')} |"
        )
    return "\n".join(lines) + "\n"


def _row(
    r: Requirement,
    pages: Mapping[str, str],
    checks: Sequence[str],
    verdicts: Mapping[str, Mapping[str, Any]],
    status: Mapping[str, Any],
) -> str:
    anchor = r.id.lower()
    page = pages.get(r.id)
    name = f"[**{r.id}**]({relative_link(REQUIREMENTS_PAGE, page, anchor)})" if page else r.id
    head = f'<a id="{anchor}"></a>{name}<br>{r.level} · {r.role} · {code(r.profile)}'
    text = r.text if r.status != "withdrawn" else f"*(withdrawn)* {r.text}"
    check_links = "<br>".join(
        f"[{code(c)}]({relative_link(REQUIREMENTS_PAGE, CHECKS_PAGE, _check_anchor(c))})"
        for c in checks
    )
    row = status.get(r.id)
    entry = verdicts.get(r.id)
    if r.role == "client":
        verdict = "client suite in progress"
    elif entry is not None and getattr(row, "status", "") == "tested":
        verdict = _badge(str(entry.get("verdict", "")))
        failing = [
            str(c.get("check"))
            for c in entry.get("checks", [])
            if c.get("verdict") in ("FAILED", "WARNING")
        ]
        if failing:
            verdict += " in " + ", ".join(code(c) for c in failing)
    elif row is not None and row.status == "excluded":
        verdict = f"not tested: {row.reason}"
    elif row is not None:
        verdict = f"untested ({row.reason})"
    else:
        verdict = "no run recorded"
    return f"| {head} | {cell(text)} | {check_links} | {cell(verdict)} |"


def _check_anchor(check_id: str) -> str:
    return "check-" + re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")


def checks_page(
    requirements: Mapping[str, Requirement], scenarios: Sequence[Scenario], run: RunData
) -> str:
    """The catalogue of every check of the server suite."""
    results = run.check_results()
    out = [banner("conformance/scenarios/ and " + REPORT_PATH)]
    out.append("# Checks of the server suite\n")
    out.append(
        "Every check of `responses-ws check`, by area: its stable id (baselines and reports "
        "key on it), what it drives on the wire, the profile it needs, the requirements it "
        "tests and the reference server's verdict. `responses-ws check --list` prints the "
        "same list; `--check ID` runs one check and `--requirement RWS-...` the checks of "
        "one requirement.\n"
    )
    out.extend(_run_heading(run))
    by_area: dict[str, list[Scenario]] = defaultdict(list)
    for s in scenarios:
        by_area[s.id.split(".", 1)[0]].append(s)
    for area, members in by_area.items():
        out.append(f"## {area} {{#area-{area}}}\n")
        out.append("| Check | Requirements | Profile | Reference server |")
        out.append("|---|---|---|---|")
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
            result = results.get(s.id)
            if result is None:
                verdict = "not in the recorded run"
            else:
                verdict = _badge(str(result.get("verdict", "")))
                message = str(result.get("message") or "")
                if message and result.get("verdict") != "PASSED":
                    verdict += ": " + message
            head = (
                f'<a id="{anchor}"></a>{code(s.id)}<br>{cell(s.title)}'
                f"<br><small>drives: {cell(s.drives)}</small>"
            )
            out.append(f"| {head} | {reqs} | {profiles} | {cell(verdict)} |")
        out.append("")
    return "\n".join(out)

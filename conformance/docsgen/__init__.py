"""Generate the documentation site's derived pages from the specification's sources.

``responses-ws docs generate`` writes, below ``docs/``:

* ``spec/*.md`` — copies of the specification pages (``spec/*.md``), appendix and changelog
  included (:mod:`.spec_pages`);
* ``reference/`` — the schema reference, one page per event type and per shared definition
  (:mod:`.schema_ref`);
* ``requirements.md`` and ``checks.md`` — the requirement index and the check catalogue,
  with the verdicts recorded in ``docs/data/reference-report.json`` (reference server, model
  conformance-1), ``docs/data/reference-any-model-report.json`` (reference server, another
  model) and ``docs/data/reference-client-report.json`` (reference client adapter), which
  ``docs import-report`` stores — the report's own target says which
  (:mod:`.requirements_index`);
* ``diagrams/`` — the state diagrams and rule tables from ``schemas/rules/``
  (:mod:`.diagrams`).
* ``proof.md`` — the proof matrix, every check shown able to fail, from
  ``docs/data/proof-matrix.json`` (:mod:`.proof_matrix`).

Generated files are committed. :func:`stale` compares them with what the sources give now
(``--check``), including generated files whose source has gone; :func:`write` brings them up
to date. Hand-written pages (guides, ``index.md``) live beside them and are never touched:
only the folders and files in :data:`GENERATED_DIRS` and :data:`GENERATED_FILES` are owned
by the generator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.clientsuite.scenarios import SCENARIOS as CLIENT_SCENARIOS
from conformance.docsgen.diagrams import diagram_pages
from conformance.docsgen.proof_matrix import PROOF_PAGE, proof_page
from conformance.docsgen.requirements_index import (
    ANY_MODEL_REPORT_PATH,
    CHECKS_PAGE,
    CLIENT_REPORT_PATH,
    REPORT_PATH,
    REQUIREMENTS_PAGE,
    RunData,
    checks_page,
)
from conformance.docsgen.requirements_index import index as requirement_index
from conformance.docsgen.schema_ref import reference_pages
from conformance.docsgen.spec_pages import SPEC_DIR, requirement_pages, spec_pages
from conformance.model_coverage import SCRIPTED, column_of
from conformance.requirements import load_requirements
from conformance.traceability import load_exclusions

__all__ = [
    "ANY_MODEL_REPORT_PATH",
    "CLIENT_REPORT_PATH",
    "GENERATED_DIRS",
    "GENERATED_FILES",
    "REPORT_PATH",
    "Difference",
    "generate",
    "import_report",
    "load_run",
    "stale",
    "trim_report",
    "write",
]

GENERATED_DIRS: tuple[str, ...] = (SPEC_DIR, "reference", "diagrams")
GENERATED_FILES: tuple[str, ...] = (REQUIREMENTS_PAGE, CHECKS_PAGE, PROOF_PAGE)


@dataclass(frozen=True)
class Difference:
    """One generated file that is not what the sources give."""

    path: str  # relative to docs/
    problem: str  # "out of date", "missing" or "no longer generated"

    def __str__(self) -> str:
        return f"{self.problem}: docs/{self.path}"


def _spec_mentions(root: Path, event_types: list[str]) -> dict[str, list[str]]:
    """Event type -> the spec pages (docs-relative) that name it in backticks."""
    texts = {
        f"{SPEC_DIR}/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted((root / "spec").glob("*.md"))
    }
    found: dict[str, list[str]] = {}
    for event_type in event_types:
        pattern = re.compile(r"`" + re.escape(event_type) + r"[`.*]")
        pages = [page for page, text in texts.items() if pattern.search(text)]
        if pages:
            found[event_type] = pages
    return found


def load_run(root: Path) -> RunData:
    """The committed reference run (absent before the first ``make docs-report``)."""
    exclusions_file = root / "conformance" / "exclusions.yaml"
    exclusions = load_exclusions(exclusions_file) if exclusions_file.exists() else {}
    return RunData(
        report=_read_json(root / "docs" / REPORT_PATH),
        exclusions=exclusions,
        client_report=_read_json(root / "docs" / CLIENT_REPORT_PATH),
        any_model_report=_read_json(root / "docs" / ANY_MODEL_REPORT_PATH),
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def generate(root: Path) -> dict[str, str]:
    """docs-relative path -> text of every generated page, from the sources under ``root``."""
    # Importing the scenarios registers them; done here so that `docs` stays cheap to load.
    from conformance.scenarios import all_scenarios

    requirements = load_requirements(root / "spec")
    scenarios = all_scenarios()
    pages: dict[str, str] = {}
    pages.update(spec_pages(root))
    schema_events = sorted(p.stem for p in (root / "schemas" / "events").glob("*/*.json"))
    pages.update(reference_pages(root, requirements, _spec_mentions(root, schema_events)))
    pages.update(diagram_pages(root))
    run = load_run(root)
    pages[REQUIREMENTS_PAGE] = requirement_index(
        root, requirements, scenarios, requirement_pages(root), run, CLIENT_SCENARIOS
    )
    pages[CHECKS_PAGE] = checks_page(requirements, scenarios, run, CLIENT_SCENARIOS)
    pages[PROOF_PAGE] = proof_page(root / "docs", requirements, scenarios, CLIENT_SCENARIOS)
    # One trailing newline per file, whatever the generator produced.
    return {path: text.rstrip("\n") + "\n" for path, text in pages.items()}


def _existing(docs: Path) -> set[str]:
    found = {f for f in GENERATED_FILES if (docs / f).is_file()}
    for folder in GENERATED_DIRS:
        base = docs / folder
        if base.is_dir():
            found |= {p.relative_to(docs).as_posix() for p in base.rglob("*.md")}
    return found


def stale(root: Path, wanted: dict[str, str] | None = None) -> list[Difference]:
    """Every generated file under ``root/docs`` that differs from what the sources give
    (``wanted``: the output of :func:`generate`, computed when not given)."""
    docs = root / "docs"
    if wanted is None:
        wanted = generate(root)
    differences: list[Difference] = []
    for path, text in sorted(wanted.items()):
        target = docs / path
        if not target.exists():
            differences.append(Difference(path, "missing"))
        elif target.read_text(encoding="utf-8") != text:
            differences.append(Difference(path, "out of date"))
    for path in sorted(_existing(docs) - set(wanted)):
        differences.append(Difference(path, "no longer generated"))
    return differences


def write(root: Path) -> list[Difference]:
    """Bring every generated file up to date; return what changed."""
    docs = root / "docs"
    wanted = generate(root)
    changed = stale(root, wanted)
    for difference in changed:
        target = docs / difference.path
        if difference.path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[difference.path], encoding="utf-8")
        else:
            target.unlink()
    return changed


# Members of a check entry the site shows; the wire log and timings are left out of the
# committed copy (they change every run and would make every refresh a huge diff).
_CHECK_KEYS = (
    "id",
    "title",
    "area",
    "level",
    "requirements",
    "verdict",
    "expected_failure",
    "message",
    "requirement_verdicts",
)


def trim_report(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a ``report.json`` the site needs, stable from run to run."""
    target = dict(report.get("target") or {})
    for key in ("server_url", "url", "age_limit_url", "idle_limit_url", "no_steering_url"):
        target.pop(key, None)  # ephemeral loopback ports
    if isinstance(target.get("clients"), list):
        # A client's command names paths of the machine that ran it: keep name and profiles.
        target["clients"] = [
            {k: v for k, v in c.items() if k != "command"}
            for c in target["clients"]
            if isinstance(c, dict)
        ]
    checks = []
    for check in report.get("checks", []):
        kept = {k: check[k] for k in _CHECK_KEYS if k in check}
        details = check.get("details") or {}
        if isinstance(details, dict):
            # What the checker judged, and why a part of the check was skipped.
            kept_details = {k: details[k] for k in ("exercised", "not_applicable") if k in details}
            if kept_details:
                kept["details"] = kept_details
        checks.append(kept)
    summary = dict(report.get("summary") or {})
    return {
        "format": report.get("format"),
        "format_version": report.get("format_version"),
        "started_at": report.get("started_at"),
        "target": target,
        "summary": summary,
        "requirements": report.get("requirements", []),
        "checks": checks,
    }


def _load_report(source: Path) -> dict[str, Any]:
    report = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or report.get("format") != "responses-ws-conformance-report":
        raise ValueError(f"{source}: not a responses-ws report.json")
    return report


def _stored_path(root: Path, report: Mapping[str, Any]) -> Path:
    """Where a report is stored: the client run, or the server run of its model's column
    (told by the report's target, so that no option can file a run in the wrong column)."""
    if (report.get("target") or {}).get("suite") == "client":
        return root / "docs" / CLIENT_REPORT_PATH
    scripted = column_of(report) == SCRIPTED
    return root / "docs" / (REPORT_PATH if scripted else ANY_MODEL_REPORT_PATH)


def verdicts_of(report: Mapping[str, Any]) -> dict[str, str]:
    """What the site publishes from a report: each check's verdict and its requirements'.

    Timings, timestamps and messages are left out: two runs of the same suite against the
    same server must give the same verdicts, not the same durations.
    """
    out: dict[str, str] = {}
    for check in report.get("checks", []):
        if not isinstance(check, Mapping):
            continue
        out[str(check.get("id"))] = str(check.get("verdict"))
        for rid, verdict in sorted((check.get("requirement_verdicts") or {}).items()):
            out[f"{check.get('id')} {rid}"] = str(verdict)
    return out


def stale_verdicts(root: Path, source: Path) -> list[str]:
    """Where the stored report's verdicts differ from those of the fresh run ``source``."""
    fresh = _load_report(source)
    stored_path = _stored_path(root, fresh)
    if not stored_path.is_file():
        return [f"{stored_path.relative_to(root)}: missing"]
    stored = verdicts_of(json.loads(stored_path.read_text(encoding="utf-8")))
    now = verdicts_of(fresh)
    return [
        f"{key}: published {stored.get(key, '(absent)')}, this run {now.get(key, '(absent)')}"
        for key in sorted(stored.keys() | now.keys())
        if stored.get(key) != now.get(key)
    ]


def import_report(root: Path, source: Path) -> Path:
    """Write the trimmed ``source`` report to ``docs/data/reference-report.json`` (a server
    run with conformance-1), ``docs/data/reference-any-model-report.json`` (a server run with
    another model) or ``docs/data/reference-client-report.json`` (a client-suite run)."""
    report = _load_report(source)
    target = _stored_path(root, report)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(trim_report(report), indent=2, ensure_ascii=False) + "\n"
    target.write_text(text, encoding="utf-8")
    return target

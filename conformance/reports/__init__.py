"""The reports of a conformance run: ``report.json`` (machines, and ``responses-ws trace``),
``junit.xml`` (CI), ``report.html`` (people) and the console progress and summary.

:func:`write_reports` writes the three files of a finished run into one folder. The run it
is given should already carry the baseline's marks (``apply_expected_failures`` of
:mod:`conformance.baseline`) and ``stale`` its stale entries, so that every report agrees with
the exit status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from conformance.baseline import StaleEntry
from conformance.reports._common import load_registry_or_empty
from conformance.reports._html import DEFAULT_SPEC_BASE_URL
from conformance.reports.console import Progress, print_summary
from conformance.reports.html import write_html
from conformance.reports.json_report import write_json_report
from conformance.reports.junit import write_junit
from conformance.requirements import Requirement
from conformance.results import RunResult

__all__ = ["DEFAULT_SPEC_BASE_URL", "REPORT_FILES", "Progress", "print_summary", "write_reports"]

REPORT_FILES: tuple[str, ...] = ("report.json", "junit.xml", "report.html")


def write_reports(
    run: RunResult,
    report_dir: str | Path,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
    spec_base_url: str = DEFAULT_SPEC_BASE_URL,
) -> dict[str, Path]:
    """Write ``report.json``, ``junit.xml`` and ``report.html`` into ``report_dir`` (created
    if needed) and return their paths by file name. ``registry`` gives requirement levels;
    by default the project's registry is read (levels show as ``-`` if it cannot be).
    ``spec_base_url``: the published site report.html links requirements to."""
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stale = tuple(stale)
    known = registry if registry is not None else load_registry_or_empty()
    return {
        "report.json": write_json_report(run, folder / "report.json", stale=stale, registry=known),
        "junit.xml": write_junit(run, folder / "junit.xml", stale=stale, registry=known),
        "report.html": write_html(
            run, folder / "report.html", stale=stale, registry=known, spec_base_url=spec_base_url
        ),
    }

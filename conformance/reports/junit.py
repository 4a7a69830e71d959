"""``junit.xml``: the run in the JUnit XML dialect CI systems read (as h2spec's ``-j``).

One ``<testsuite>`` per area and one ``<testcase>`` per check, ``classname`` = area,
``name`` = check id. Verdicts map so that a CI dashboard turns red exactly when the exit
status is non-zero:

* FAILED -> ``<failure>`` with expected versus actual, and the wire log in ``<system-out>``;
* FAILED but listed in the expected-failures file -> ``<skipped type="expected-failure">``
  (pytest's junitxml does the same for xfail);
* a check named by a stale expected-failures entry -> ``<failure type="stale-expected-failure">``;
* WARNING -> passes, with a ``<system-out>`` note and a ``verdict`` property;
* SKIPPED -> ``<skipped>`` with the reason;
* BLOCKED -> ``<skipped type="blocked">`` naming the violated requirement it relies on (that
  requirement fails the run, through its own check or the run's violations);
* INFORMATIONAL -> passes, with the observation as a property.

The ``<system-out>`` of ``<testsuites>`` leads with "N requirements violated", each once with
its first evidence, then the blocked requirements (:mod:`.lead`), as the console does.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

from conformance.baseline import StaleEntry, expected_failure_reason, is_unexpected_failure
from conformance.reports._common import (
    area_of,
    check_level,
    stale_check_ids,
    to_jsonable,
)
from conformance.reports.lead import lead_lines
from conformance.requirements import Requirement
from conformance.results import CheckResult, RunResult, Verdict

__all__ = ["build_junit", "write_junit"]

# XML 1.0 cannot carry these code points even escaped; wire logs of a broken server can.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _wire_log_text(check: CheckResult) -> str:
    lines = [json.dumps(to_jsonable(record), ensure_ascii=False) for record in check.wire_log]
    return "wire log:\n" + "\n".join(lines) if lines else "wire log: (empty)"


def _property(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", name=name, value=_xml_text(value))


def _testcase(
    suite: ET.Element,
    check: CheckResult,
    registry: Mapping[str, Requirement],
    stale_ids: Mapping[str, str],
) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=area_of(check),
        name=check.id,
        time=f"{check.duration_s:.3f}",
    )
    properties = ET.SubElement(case, "properties")
    _property(properties, "title", check.title)
    _property(properties, "requirements", " ".join(check.requirements))
    _property(properties, "level", check_level(check, registry))
    _property(properties, "verdict", check.verdict.value)
    out: list[str] = []
    reason = expected_failure_reason(check)
    if is_unexpected_failure(check):
        failure = ET.SubElement(
            case, "failure", message=_xml_text(_first_line(check.message)), type="FAILED"
        )
        failure.text = _xml_text(check.message)
        out.append(_wire_log_text(check))
    elif check.id in stale_ids:
        failure = ET.SubElement(
            case,
            "failure",
            message=_xml_text(stale_ids[check.id]),
            type="stale-expected-failure",
        )
        failure.text = _xml_text(stale_ids[check.id])
    elif reason is not None:
        _property(properties, "expected_failure", reason)
        skipped = ET.SubElement(
            case,
            "skipped",
            message=_xml_text(f"expected failure: {reason}"),
            type="expected-failure",
        )
        skipped.text = _xml_text(check.message)
        out.append(_wire_log_text(check))
    elif check.verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=_xml_text(check.message or "skipped"))
    elif check.verdict is Verdict.BLOCKED:
        blockers = sorted({r for by in check.blocked_by.values() for r in by})
        skipped = ET.SubElement(
            case,
            "skipped",
            message=_xml_text(f"BLOCKED by {', '.join(blockers)} (violated in this run)"),
            type="blocked",
        )
        skipped.text = _xml_text(check.message)
        out.append(_wire_log_text(check))
    elif check.verdict is Verdict.WARNING:
        out.append(f"WARNING (a SHOULD is not met; not a failure): {check.message}")
    elif check.verdict is Verdict.INFORMATIONAL:
        observed = {"message": check.message, "details": to_jsonable(dict(check.details))}
        _property(properties, "informational", json.dumps(observed, ensure_ascii=False))
    if out:
        ET.SubElement(case, "system-out").text = _xml_text("\n\n".join(out))


def build_junit(
    run: RunResult,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> ET.ElementTree[ET.Element[str]]:
    """The JUnit XML tree of ``run``."""
    registry = registry if registry is not None else {}
    stale_ids = stale_check_ids(run, stale)
    by_area: dict[str, list[CheckResult]] = {}
    for check in run.checks:
        by_area.setdefault(area_of(check), []).append(check)

    def failures(checks: Iterable[CheckResult]) -> int:
        return sum(1 for c in checks if is_unexpected_failure(c) or c.id in stale_ids)

    def skipped(checks: Iterable[CheckResult]) -> int:
        return sum(
            1
            for c in checks
            if c.verdict in (Verdict.SKIPPED, Verdict.BLOCKED)
            or (expected_failure_reason(c) is not None and c.id not in stale_ids)
        )

    root = ET.Element(
        "testsuites",
        name="responses-ws conformance",
        tests=str(len(run.checks)),
        failures=str(failures(run.checks)),
        errors="0",
        skipped=str(skipped(run.checks)),
        time=f"{run.duration_s:.3f}",
        timestamp=run.started_at,
    )
    ET.SubElement(root, "system-out").text = _xml_text("\n".join(lead_lines(run, registry)))
    for area, checks in by_area.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=area,
            tests=str(len(checks)),
            failures=str(failures(checks)),
            errors="0",
            skipped=str(skipped(checks)),
            time=f"{sum(c.duration_s for c in checks):.3f}",
            timestamp=run.started_at,
        )
        properties = ET.SubElement(suite, "properties")
        for key, value in sorted(to_jsonable(dict(run.target)).items()):
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            _property(properties, f"target.{key}", text)
        for check in checks:
            _testcase(suite, check, registry, stale_ids)
    tree: ET.ElementTree[ET.Element[str]] = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(
    run: RunResult,
    path: str | Path,
    *,
    stale: Iterable[StaleEntry] = (),
    registry: Mapping[str, Requirement] | None = None,
) -> Path:
    """Write ``junit.xml`` to ``path`` and return the path."""
    path = Path(path)
    build_junit(run, stale=stale, registry=registry).write(
        path, encoding="utf-8", xml_declaration=True
    )
    return path

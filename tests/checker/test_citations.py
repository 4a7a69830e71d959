"""Requirement citations in code and rule tables name requirements of the registry.

The registry was split and renumbered once; a citation that names no requirement (or a
withdrawn one) is a stale one. The rule tables also say whose traffic a rule judges, so a
rule's requirements must be of that role.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.requirements import load_requirements

__all__: list[str] = []

_ROOT = Path(__file__).resolve().parents[2]
_ID = re.compile(r"\bRWS-[A-Z]+-\d+\b")
_RULES = _ROOT / "schemas" / "rules"


def _citations(*folders: str) -> dict[str, list[str]]:
    """Every RWS id cited under the folders (code and data), with where it is cited."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((_ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".json", ".yaml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                for rid in _ID.findall(line):
                    found.setdefault(rid, []).append(f"{path.relative_to(_ROOT)}:{number}")
    return found


def test_every_cited_requirement_is_in_the_registry() -> None:
    """conformance/, reference_impl/ and the rule tables cite only active registry ids."""
    registry = load_requirements()
    cited = _citations("conformance", "reference_impl", "schemas/rules")
    assert cited, "no citations found: the scan is broken"
    unknown = {rid: where for rid, where in cited.items() if rid not in registry}
    withdrawn = {
        rid: where
        for rid, where in cited.items()
        if rid in registry and registry[rid].status != "active"
    }
    assert unknown == {}
    assert withdrawn == {}


def _rule_requirements(table: str, section: str) -> list[str]:
    data = json.loads((_RULES / f"{table}.json").read_text(encoding="utf-8"))
    return [rid for row in data[section] for rid in row.get("requirements", ())]


@pytest.mark.parametrize(
    ("table", "section", "role"),
    [
        ("requests", "client", "client"),
        ("requests", "create", "server"),
        ("requests", "frames", "server"),
        ("cache", "transitions", "server"),
        ("cache", "predictions", "server"),
    ],
)
def test_rule_table_cites_requirements_of_the_role_it_judges(
    table: str, section: str, role: str
) -> None:
    """A rule judging client messages cites client requirements; the others server ones."""
    registry = load_requirements()
    cited = _rule_requirements(table, section)
    assert cited
    assert [rid for rid in cited if registry[rid].role != role] == []

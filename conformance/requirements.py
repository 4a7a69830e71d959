"""Load the requirement registry (``spec/requirements.yaml``) for the rest of the suite.

The registry is the one place where every normative statement of the specification is
authored. Checks, reports and the spec renderer look requirements up here by ID. The loader
is deliberately lenient: it never rejects a registry (duplicates, unknown levels and the
like are reported by ``responses-ws spec check``), so that a defect in one entry cannot
stop a conformance run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance import _paths

__all__ = [
    "ID_PATTERN",
    "LEVELS",
    "PROFILES",
    "ROLES",
    "STATUSES",
    "Requirement",
    "load_requirements",
    "registry_path",
]

# The BCP 14 levels a requirement may have (RFC 2119 / RFC 8174). REQUIRED, SHALL,
# RECOMMENDED and OPTIONAL are synonyms the registry does not use as levels.
LEVELS: tuple[str, ...] = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
ROLES: tuple[str, ...] = ("server", "client")
PROFILES: tuple[str, ...] = ("core", "multiplex", "steering", "conformance-model", "http")
# A withdrawn requirement keeps its ID forever so that the number is never reused.
STATUSES: tuple[str, ...] = ("active", "withdrawn")

ID_PATTERN = re.compile(r"^RWS-(?P<area>[A-Z]+)-(?P<number>[1-9][0-9]*)$")


@dataclass(frozen=True)
class Requirement:
    """One normative statement of the registry."""

    id: str
    level: str
    role: str
    profile: str
    text: str
    area: str
    status: str = "active"

    @property
    def number(self) -> int:
        """The number after the area (0 when the ID is malformed)."""
        match = ID_PATTERN.match(self.id)
        return int(match.group("number")) if match else 0


def registry_path(spec_root: Path | None = None) -> Path:
    """Return the path of ``requirements.yaml`` under ``spec_root`` (default: ``spec/``)."""
    return (spec_root if spec_root is not None else _paths.spec_dir()) / "requirements.yaml"


def _area(requirement_id: str) -> str:
    match = ID_PATTERN.match(requirement_id)
    if match:
        return match.group("area")
    # Lenient fallback for malformed IDs: the middle part, if any.
    parts = requirement_id.split("-")
    return parts[1] if len(parts) >= 3 else ""


def _text(value: Any) -> str:
    # YAML folds long texts into strings already; collapse stray whitespace so that the
    # rendered text and the registry text compare equal.
    return " ".join(str(value).split()) if value is not None else ""


def load_requirements(spec_root: Path | None = None) -> dict[str, Requirement]:
    """Return every requirement of the registry by ID, in registry order.

    ``spec_root`` is the folder holding ``requirements.yaml`` (default: the project's
    ``spec/``). Entries without an ``id`` are skipped; of duplicate IDs the first wins.
    """
    with registry_path(spec_root).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    entries = data.get("requirements", []) if isinstance(data, dict) else []
    result: dict[str, Requirement] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "id" not in entry:
            continue
        requirement_id = str(entry["id"])
        if requirement_id in result:
            continue
        result[requirement_id] = Requirement(
            id=requirement_id,
            level=_text(entry.get("level")),
            role=_text(entry.get("role")),
            profile=_text(entry.get("profile")),
            text=_text(entry.get("text")),
            area=_area(requirement_id),
            status=_text(entry.get("status")) or "active",
        )
    return result

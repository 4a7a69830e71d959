"""The registry loader (``conformance.requirements``) and the BCP 14 key-word scanner."""

from __future__ import annotations

from pathlib import Path

from conformance.requirements import LEVELS, PROFILES, ROLES, load_requirements
from conformance.spectools.bcp14 import bold_keywords, keywords


def write_registry(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.yaml").write_text("version: draft\nrequirements:\n" + body)
    return folder


def test_loader_returns_every_project_requirement_with_its_area_and_allowed_values() -> None:
    requirements = load_requirements()
    assert requirements["RWS-CACHE-4"].area == "CACHE"
    assert requirements["RWS-CACHE-4"].number == 4
    assert all(r.level in LEVELS for r in requirements.values())
    assert all(r.role in ROLES and r.profile in PROFILES for r in requirements.values())
    assert next(iter(requirements)) == "RWS-TRANS-1"


def test_loader_keeps_the_first_of_duplicate_ids_and_skips_entries_without_id(
    tmp_path: Path,
) -> None:
    spec = write_registry(
        tmp_path / "spec",
        "- {id: RWS-X-1, level: MUST, role: server, profile: core, text: First MUST.}\n"
        "- {id: RWS-X-1, level: MAY, role: server, profile: core, text: Second MAY.}\n"
        "- {level: MUST, text: No id MUST.}\n"
        "- {id: RWS-X-2, level: BOGUS, text: Folded\n    text.}\n",
    )
    requirements = load_requirements(spec)
    assert list(requirements) == ["RWS-X-1", "RWS-X-2"]
    assert requirements["RWS-X-1"].text == "First MUST."
    # The loader does not judge: a bad level is reported by `spec check`, not here.
    assert requirements["RWS-X-2"].level == "BOGUS"
    assert requirements["RWS-X-2"].role == ""
    assert requirements["RWS-X-2"].status == "active"


def test_keywords_are_upper_case_only_longest_first_and_not_in_code() -> None:
    text = "It MUST NOT fail, SHOULD work, is NOT RECOMMENDED, must not `MAY` and SHALL."
    assert keywords(text) == ["MUST NOT", "SHOULD", "NOT RECOMMENDED", "SHALL"]


def test_bold_keywords_leaves_code_spans_alone() -> None:
    assert bold_keywords("A `MUST` MUST NOT.") == "A `MUST` **MUST NOT**."

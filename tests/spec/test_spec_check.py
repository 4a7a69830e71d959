"""``responses-ws spec check`` on the project's files and on deliberately broken copies.

Each broken-copy test breaks one thing in a private copy of ``spec/`` and ``schemas/`` and
asserts that the matching check reports exactly that problem, with its file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance import _paths
from conformance.cli import main
from conformance.spectools.check import (
    CheckOutcome,
    check_errors,
    check_examples,
    check_keywords,
    check_links,
    check_placement,
    check_registry,
    check_rendered,
    check_rules,
    check_schemas,
)


def messages(outcome: CheckOutcome) -> list[str]:
    return [str(problem) for problem in outcome.problems]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    "check",
    [check_registry, check_keywords, check_placement, check_links, check_rendered, check_errors],
)
def test_project_specification_passes_the_registry_and_page_checks(
    check: object,
) -> None:
    assert callable(check)
    outcome: CheckOutcome = check(_paths.data_root())
    assert outcome.ok, "\n".join(messages(outcome))
    assert outcome.count > 0


def test_duplicate_requirement_id_is_reported_with_both_lines(data_copy: Path) -> None:
    registry = data_copy / "spec" / "requirements.yaml"
    edit(registry, "- id: RWS-TRANS-3\n", "- id: RWS-TRANS-1\n")
    problems = messages(check_registry(data_copy))
    assert len(problems) == 1
    assert re.fullmatch(
        r"spec/requirements\.yaml:\d+: duplicate id RWS-TRANS-1 \(first at line \d+\)",
        problems[0],
    )


def test_requirement_text_with_a_second_keyword_is_reported(data_copy: Path) -> None:
    registry = data_copy / "spec" / "requirements.yaml"
    edit(registry, "answer a successful upgrade", "SHOULD answer a successful upgrade")
    problems = messages(check_registry(data_copy))
    assert len(problems) == 1
    assert "RWS-TRANS-1: text has 2 BCP 14 key words ['MUST', 'SHOULD']" in problems[0]


def test_requirement_with_unknown_profile_and_malformed_id_is_reported(
    data_copy: Path,
) -> None:
    registry = data_copy / "spec" / "requirements.yaml"
    edit(
        registry,
        "- id: RWS-TRANS-1\n  level: MUST\n  role: server\n  profile: core",
        "- id: RWS-trans-1\n  level: MUST\n  role: server\n  profile: fancy",
    )
    problems = messages(check_registry(data_copy))
    assert any("malformed id 'RWS-trans-1'" in p for p in problems)
    assert any("profile 'fancy' is not one of" in p for p in problems)


def test_keyword_outside_a_requirement_is_reported_with_page_and_line(data_copy: Path) -> None:
    page = data_copy / "spec" / "index.md"
    lines = page.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "Servers MUST be nice.")
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert messages(check_keywords(data_copy)) == [
        "spec/index.md:3: BCP 14 key word MUST outside a requirement block"
    ]


def test_keywords_in_fenced_code_inline_code_and_exemptions_are_not_reported(
    data_copy: Path,
) -> None:
    page = data_copy / "spec" / "extra.md"
    page.write_text(
        "# Extra\n\n```\nMUST in a fence\n```\n\n`MUST` in code.\n\n"
        "<!-- bcp14-exempt -->\nMUST and SHOULD quoted.\n<!-- /bcp14-exempt -->\n",
        encoding="utf-8",
    )
    assert check_keywords(data_copy).ok


def test_stale_rendering_is_reported_after_a_requirement_text_changes(data_copy: Path) -> None:
    registry = data_copy / "spec" / "requirements.yaml"
    edit(registry, "answer a successful upgrade with status 101", "answer it with status 101")
    problems = messages(check_rendered(data_copy))
    assert len(problems) == 1
    assert re.fullmatch(
        r"spec/transport\.md:\d+: stale rendering; run `responses-ws spec render`", problems[0]
    )


def test_marker_naming_an_unknown_id_and_an_unplaced_id_are_reported(data_copy: Path) -> None:
    edit(
        data_copy / "spec" / "transport.md",
        "<!-- req: RWS-TRANS-9 -->",
        "<!-- req: RWS-TRANS-99 -->",
    )
    problems = messages(check_placement(data_copy))
    assert any(
        re.fullmatch(r"spec/transport\.md:\d+: marker names unknown id RWS-TRANS-99", p)
        for p in problems
    )
    assert "spec/requirements.yaml: RWS-TRANS-9 is placed on no spec page" in problems


def test_requirement_placed_twice_is_reported(data_copy: Path) -> None:
    page = data_copy / "spec" / "extra.md"
    page.write_text("# Extra\n\n<!-- req: RWS-TRANS-1 -->\n", encoding="utf-8")
    problems = messages(check_placement(data_copy))
    assert len(problems) == 1
    assert "RWS-TRANS-1 placed twice" in problems[0]


def test_prose_citing_an_unknown_id_is_reported(data_copy: Path) -> None:
    page = data_copy / "spec" / "extra.md"
    page.write_text("# Extra\n\nSee RWS-CACHE-999.\n", encoding="utf-8")
    assert messages(check_placement(data_copy)) == [
        "spec/extra.md:3: page cites unknown id RWS-CACHE-999"
    ]


def test_invalid_example_that_validates_and_valid_example_that_fails_are_reported(
    data_copy: Path,
) -> None:
    folder = data_copy / "schemas" / "examples" / "error"
    folder.mkdir(parents=True, exist_ok=True)
    good = {
        "type": "error",
        "status": 400,
        "error": {"type": "invalid_request_error", "code": "invalid_json", "message": "bad"},
    }
    (folder / "invalid-looks-fine.json").write_text(json.dumps(good), encoding="utf-8")
    (folder / "valid-missing-error.json").write_text('{"type": "error"}', encoding="utf-8")
    problems = messages(check_examples(data_copy))
    assert (
        "schemas/examples/error/invalid-looks-fine.json: invalid example validates "
        "against its schema"
    ) in problems
    assert any(
        p.startswith("schemas/examples/error/valid-missing-error.json: valid example fails")
        for p in problems
    )


def test_example_folder_of_an_unknown_event_type_is_reported(data_copy: Path) -> None:
    folder = data_copy / "schemas" / "examples" / "response.nonexistent"
    folder.mkdir(parents=True)
    (folder / "valid-x.json").write_text('{"type": "response.nonexistent"}', encoding="utf-8")
    assert (
        "schemas/examples/response.nonexistent: example folder 'response.nonexistent' "
        "names no event type with a schema"
    ) in messages(check_examples(data_copy))


def test_rule_table_naming_an_unknown_event_or_requirement_is_reported(data_copy: Path) -> None:
    table = {
        "states": {"start": {"events": ["response.created", "response.nonexistent", "terminal"]}},
        "on": {"event": "response.bogus", "requirement": "RWS-ORDER-999"},
    }
    (data_copy / "schemas" / "rules" / "broken.json").write_text(
        json.dumps(table, indent=2), encoding="utf-8"
    )
    problems = messages(check_rules(data_copy))
    assert "schemas/rules/broken.json:6: unknown event type 'response.nonexistent'" in problems
    assert "schemas/rules/broken.json:12: unknown event type 'response.bogus'" in problems
    assert "schemas/rules/broken.json:13: unknown requirement id RWS-ORDER-999" in problems
    assert len(problems) == 3


def test_error_code_citing_an_unknown_requirement_is_reported(data_copy: Path) -> None:
    errors = data_copy / "schemas" / "rules" / "errors.json"
    registry = json.loads(errors.read_text(encoding="utf-8"))
    registry["codes"]["invalid_json"]["requirements"] = ["RWS-CREATE-99"]
    errors.write_text(json.dumps(registry), encoding="utf-8")
    problems = messages(check_errors(data_copy))
    assert len(problems) == 1
    assert "invalid_json: cites unknown requirement RWS-CREATE-99" in problems[0]


def test_invalid_schema_is_reported(data_copy: Path) -> None:
    path = data_copy / "schemas" / "defs" / "broken.json"
    path.write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://responses-ws.org/schemas/draft/defs/broken.json",
                "type": 5,
            }
        ),
        encoding="utf-8",
    )
    problems = messages(check_schemas(data_copy))
    assert len(problems) == 1
    assert problems[0].startswith("schemas/defs/broken.json: invalid schema at /type:")


def test_spec_check_command_prints_one_line_per_check_and_fails_on_a_problem(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(data_copy / "spec" / "requirements.yaml", "- id: RWS-TRANS-2\n", "- id: RWS-TRANS-1\n")
    status = main(["spec", "check", "--root", str(data_copy), "--only", "registry"])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0].startswith("FAIL registry: ")
    assert "duplicate id RWS-TRANS-1" in out[1]
    assert main(["spec", "check", "--root", str(data_copy), "--only", "errors"]) == 0
    assert capsys.readouterr().out.startswith("ok   errors: ")


def test_link_to_a_missing_anchor_or_page_is_reported(data_copy: Path) -> None:
    page = data_copy / "spec" / "extra.md"
    page.write_text(
        "# Extra {#extra}\n\n[ok](#extra), [ok](cache.md#rws-cache-4), "
        "[bad](cache.md#rws-cache-999)\n\n[gone](nowhere.md)\n",
        encoding="utf-8",
    )
    assert messages(check_links(data_copy)) == [
        "spec/extra.md:3: link to missing anchor spec/cache.md#rws-cache-999",
        "spec/extra.md:5: link to missing page nowhere.md",
    ]

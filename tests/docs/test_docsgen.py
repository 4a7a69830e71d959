"""``responses-ws docs generate``: what the generated pages say, and that ``--check`` notices
every way a generated page can fall behind its sources.

Tests that change sources work on a copy of the project's ``spec/``, ``schemas/`` and
``docs/`` in a temporary folder; the project's own files are only read.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance import docsgen
from conformance.cli import main
from conformance.clientsuite.scenarios import SCENARIOS as CLIENT_SCENARIOS
from conformance.docsgen.diagrams import DIAGRAM_INIT, GROUP_ID, cache_page, ordering_page
from conformance.docsgen.requirements_index import RunData, checks_page, index
from conformance.docsgen.schema_ref import SchemaReference, _json_words, event_page
from conformance.docsgen.spec_pages import requirement_pages, spec_pages
from conformance.requirements import load_requirements
from conformance.scenarios import all_scenarios
from conformance.schemas import SchemaSet
from conformance.traceability import build_matrix
from tests.docs.conftest import PROJECT_ROOT

__all__: list[str] = []

REPORT = json.loads((PROJECT_ROOT / "docs" / docsgen.REPORT_PATH).read_text(encoding="utf-8"))
CLIENT_REPORT = json.loads(
    (PROJECT_ROOT / "docs" / docsgen.CLIENT_REPORT_PATH).read_text(encoding="utf-8")
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the sources and of docs/ (without the vendored script)."""
    root = tmp_path / "project"
    for name in ("spec", "schemas"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "docs", root / "docs", ignore=shutil.ignore_patterns("vendor"))
    (root / "conformance").mkdir()
    shutil.copy(PROJECT_ROOT / "conformance" / "exclusions.yaml", root / "conformance")
    docsgen.write(root)  # start from pages that match the copied sources
    return root


@pytest.fixture(scope="module")
def reference() -> SchemaReference:
    requirements = load_requirements(PROJECT_ROOT / "spec")
    return SchemaReference(PROJECT_ROOT, requirements, {})


# -- --check and write ----------------------------------------------------------------------


def test_check_is_clean_right_after_generating(project: Path) -> None:
    """Generating and then checking finds nothing to do."""
    assert docsgen.stale(project) == []


def test_check_reports_a_spec_page_edited_after_generation(project: Path) -> None:
    """Changing spec/cache.md makes its copy out of date, and only that copy."""
    source = project / "spec" / "cache.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nOne more line.\n", "utf-8")
    assert [str(d) for d in docsgen.stale(project)] == ["out of date: docs/spec/cache.md"]


@pytest.mark.slow
def test_check_reports_a_missing_and_a_leftover_page(project: Path) -> None:
    """A deleted generated page is missing; a page no source produces is no longer generated."""
    (project / "docs" / "diagrams" / "cache.md").unlink()
    stray = project / "docs" / "reference" / "events" / "response.retired.md"
    stray.write_text("# gone\n", encoding="utf-8")
    problems = sorted(str(d) for d in docsgen.stale(project))
    assert problems == [
        "missing: docs/diagrams/cache.md",
        "no longer generated: docs/reference/events/response.retired.md",
    ]
    changed = docsgen.write(project)
    assert len(changed) == 2
    assert not stray.exists()
    assert docsgen.stale(project) == []


def test_check_reports_a_new_reference_run(project: Path) -> None:
    """A different recorded verdict makes the requirement index and check catalogue stale."""
    report = copy.deepcopy(REPORT)
    report["checks"][0]["verdict"] = (
        "FAILED" if report["checks"][0]["verdict"] != "FAILED" else "PASSED"
    )
    (project / "docs" / docsgen.REPORT_PATH).write_text(json.dumps(report), encoding="utf-8")
    assert {d.path for d in docsgen.stale(project)} == {"checks.md"}


@pytest.mark.slow
def test_hand_written_pages_are_never_touched(project: Path) -> None:
    """Guides and the home page are not generated, so neither checked nor rewritten."""
    guide = project / "docs" / "guides" / "fuzzing.md"
    guide.write_text("# Edited by hand\n", encoding="utf-8")
    assert docsgen.stale(project) == []
    docsgen.write(project)
    assert guide.read_text(encoding="utf-8") == "# Edited by hand\n"


@pytest.mark.slow
def test_cli_check_exits_1_when_stale_and_0_after_generate(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``docs generate --check`` names the stale page and fails; ``docs generate`` fixes it."""
    (project / "docs" / "requirements.md").write_text("stale\n", encoding="utf-8")
    assert main(["docs", "generate", "--check", "--root", str(project)]) == 1
    assert "out of date: docs/requirements.md" in capsys.readouterr().out
    assert main(["docs", "generate", "--root", str(project)]) == 0
    assert main(["docs", "generate", "--check", "--root", str(project)]) == 0


# -- spec pages -----------------------------------------------------------------------------


def test_spec_copies_keep_the_source_text_and_link_ids_to_the_index() -> None:
    """Each copy is its source plus the banner, with each requirement ID linked to the index."""
    pages = spec_pages(PROJECT_ROOT)
    sources = sorted((PROJECT_ROOT / "spec").glob("*.md"))
    assert sorted(pages) == [f"spec/{p.name}" for p in sources]
    cache = pages["spec/cache.md"]
    assert cache.startswith("<!-- Generated from spec/cache.md")
    assert '<a id="rws-cache-4"></a>[**RWS-CACHE-4**](../requirements.md#rws-cache-4 ' in cache
    unlinked = re.sub(r"\[(\*\*RWS-[A-Z]+-\d+\*\*)\]\([^)]*\)", r"\1", cache)
    source = (PROJECT_ROOT / "spec" / "cache.md").read_text(encoding="utf-8")
    assert unlinked.split("\n", 2)[2] == source


def test_every_active_requirement_is_found_on_a_spec_page() -> None:
    """The index can link every requirement to the page that renders it."""
    pages = requirement_pages(PROJECT_ROOT)
    active = [
        r.id for r in load_requirements(PROJECT_ROOT / "spec").values() if r.status == "active"
    ]
    assert [r for r in active if r not in pages] == []
    assert pages["RWS-CACHE-4"] == "spec/cache.md"


# -- schema reference -----------------------------------------------------------------------


def test_every_event_page_has_a_row_for_every_field(reference: SchemaReference) -> None:
    """No property of any event schema is left out of its page's field table."""
    schema_set = SchemaSet(PROJECT_ROOT / "schemas")
    for event_type in schema_set.client_event_types() | schema_set.server_event_types():
        page = reference.event(event_type)
        for field in schema_set.schema_for(event_type).get("properties", {}):
            assert f"| <code>{field}</code> |" in page, f"{event_type}: no row for {field}"


def test_invalid_examples_show_the_reason_the_schema_gives(reference: SchemaReference) -> None:
    """Each invalid example is shown with the schema's own first error for it."""
    schema_set = SchemaSet(PROJECT_ROOT / "schemas")
    page = reference.event("response.output_text.delta")
    folder = PROJECT_ROOT / "schemas" / "examples" / "response.output_text.delta"
    invalid = sorted(folder.glob("invalid-*.json"))
    assert invalid
    for path in invalid:
        instance = json.loads(path.read_text(encoding="utf-8"))
        reason = _json_words(str(schema_set.errors(instance, direction="server")[0]))
        assert f"### Invalid: `{path.name}`\n\nRejected: `{reason}`" in page


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": ["string", "null"]}, "string or null"),
        ({"const": "response.created"}, '`"response.created"`'),
        ({"enum": ["queue", "reject"]}, 'one of `"queue"`, `"reject"`'),
        ({"type": "array", "items": {"type": "integer"}}, "array of integer"),
        ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, "null or boolean"),
        ({"not": {}}, "never present"),
        ({}, "any"),
    ],
)
def test_types_are_written_in_words(
    reference: SchemaReference, node: dict[str, Any], expected: str
) -> None:
    """Schema types read as an implementer would say them."""
    assert reference.type_of(node, "events/server/error.json", "reference/events/error.md") == (
        expected
    )


def test_a_scalar_reference_is_inlined_with_its_constraints(reference: SchemaReference) -> None:
    """``sequence_number`` shows as an integer >= 0 with a link to its definition."""
    node = {"$ref": "../../defs/envelope.json#/$defs/sequence_number"}
    base = "events/server/response.created.json"
    page = event_page("response.created")
    assert reference.type_of(node, base, page) == (
        "integer ([sequence_number](../defs/envelope.md#sequence_number))"
    )
    assert reference.constraints(node, base, page) == ["≥ 0"]


def test_constraints_are_written_in_words(reference: SchemaReference) -> None:
    """Bounds, patterns and closed objects each become one phrase."""
    node = {"minLength": 1, "maxLength": 256, "minimum": 0, "additionalProperties": False}
    assert reference.constraints(node, "defs/usage.json", "reference/defs/usage.md") == [
        "≥ 0",
        "length 1–256",
        "no other members",
    ]


# -- requirement index and check catalogue ---------------------------------------------------


def _run(report: dict[str, Any] | None) -> RunData:
    return RunData(report=report, exclusions={})


def _index(report: dict[str, Any] | None) -> str:
    requirements = load_requirements(PROJECT_ROOT / "spec")
    return index(
        PROJECT_ROOT,
        requirements,
        all_scenarios(),
        requirement_pages(PROJECT_ROOT),
        _run(report),
    )


def _row(page: str, requirement_id: str) -> str:
    anchor = f'<a id="{requirement_id.lower()}">'
    return next(line for line in page.splitlines() if anchor in line)


def test_index_lists_every_requirement_with_its_level_role_and_profile() -> None:
    """One anchored row per requirement of the registry."""
    page = _index(REPORT)
    for r in load_requirements(PROJECT_ROOT / "spec").values():
        row = _row(page, r.id)
        assert f"{r.level} · {r.role} · `{r.profile}`" in row


def test_index_shows_the_verdict_the_report_recorded() -> None:
    """Each server requirement the run tested shows the report's verdict for it."""
    requirements = load_requirements(PROJECT_ROOT / "spec")
    matrix = build_matrix(REPORT, requirements, {}, role="server")
    tested = {row.id for row in matrix.rows if row.status == "tested"}
    assert len(tested) > 50
    page = _index(REPORT)
    for entry in REPORT["requirements"]:
        if entry["id"] in tested:
            assert f'rws-{entry["verdict"].lower()}">' in _row(page, entry["id"]), entry["id"]


def test_index_follows_a_failing_report() -> None:
    """A report that failed RWS-CACHE-4 turns its row red and names the failing check."""
    report = copy.deepcopy(REPORT)
    for entry in report["requirements"]:
        if entry["id"] == "RWS-CACHE-4":
            entry["verdict"] = "FAILED"
            entry["checks"][0]["verdict"] = "FAILED"
            failing = entry["checks"][0]["check"]
    row = _row(_index(report), "RWS-CACHE-4")
    assert 'class="rws-verdict rws-failed">FAILED</span> in `' + failing + "`" in row


def test_index_lists_the_checks_that_declare_a_requirement() -> None:
    """The checks column holds exactly the scenarios that declare the requirement."""
    page = _index(REPORT)
    declaring = [s.id for s in all_scenarios() if "RWS-CACHE-4" in s.requirements]
    assert declaring
    row = _row(page, "RWS-CACHE-4")
    assert re.findall(r"\[`([^`]+)`\]\(checks\.md#", row) == declaring


def test_client_requirements_without_a_client_run_say_no_run_is_recorded() -> None:
    """Without a recorded client run, client requirements say why they have no verdict."""
    assert "no client run recorded" in _row(_index(REPORT), "RWS-CLIENT-2")


def test_client_requirements_no_scenario_tests_say_untested() -> None:
    """With a client run recorded, a client requirement no scenario covered says untested."""
    requirements = load_requirements(PROJECT_ROOT / "spec")
    run = RunData(report=REPORT, exclusions={}, client_report=CLIENT_REPORT)
    page = index(
        PROJECT_ROOT,
        requirements,
        all_scenarios(),
        requirement_pages(PROJECT_ROOT),
        run,
        CLIENT_SCENARIOS,
    )
    tested = {e["id"] for e in CLIENT_REPORT["requirements"] if e["verdict"] != "SKIPPED"}
    untested = [r for r in requirements.values() if r.role == "client" and r.id not in tested]
    assert untested
    assert "untested (no client scenario that ran tests it)" in _row(page, untested[0].id)


def test_client_requirements_show_the_reference_adapter_verdict() -> None:
    """With the client run recorded, each client requirement it tested shows its verdict and
    the client scenarios that declare it."""
    requirements = load_requirements(PROJECT_ROOT / "spec")
    run = RunData(report=REPORT, exclusions={}, client_report=CLIENT_REPORT)
    page = index(
        PROJECT_ROOT,
        requirements,
        all_scenarios(),
        requirement_pages(PROJECT_ROOT),
        run,
        CLIENT_SCENARIOS,
    )
    adapter = CLIENT_REPORT["target"]["clients"][0]["name"]
    tested = [e for e in CLIENT_REPORT["requirements"] if e["verdict"] != "SKIPPED"]
    assert tested
    for entry in tested:
        if requirements[entry["id"]].role != "client":
            continue
        row = _row(page, entry["id"])
        assert f'rws-{entry["verdict"].lower()}">' in row
        assert f"({adapter})" in row
    declaring = [c.id for c in CLIENT_SCENARIOS if "RWS-CLIENT-2" in c.requirements]
    row = _row(page, "RWS-CLIENT-2")
    assert re.findall(r"\[`client\.([^`]+)`\]", row) == declaring


def test_import_report_stores_a_client_run_apart_without_commands(
    tmp_path: Path, project: Path
) -> None:
    """A client-suite report goes to its own file, without the command line of the client."""
    full = copy.deepcopy(CLIENT_REPORT)
    full["target"]["clients"][0]["command"] = "/somewhere/python -m my_adapter"
    source = tmp_path / "report.json"
    source.write_text(json.dumps(full), encoding="utf-8")
    target = docsgen.import_report(project, source)
    assert target == project / "docs" / docsgen.CLIENT_REPORT_PATH
    stored = json.loads(target.read_text(encoding="utf-8"))
    assert stored["target"]["clients"] == [
        {k: v for k, v in full["target"]["clients"][0].items() if k != "command"}
    ]


def test_index_without_a_recorded_run_says_how_to_make_one() -> None:
    """Before the first ``make docs-report`` the page explains the missing verdicts."""
    page = _index(None)
    assert "No reference run recorded" in page
    assert "no run recorded" in _row(page, "RWS-CACHE-4")


def test_check_catalogue_lists_every_scenario_with_its_verdict() -> None:
    """Each registered check has an anchored row with the recorded verdict."""
    requirements = load_requirements(PROJECT_ROOT / "spec")
    page = checks_page(requirements, all_scenarios(), _run(REPORT), CLIENT_SCENARIOS)
    verdicts = {c["id"]: c["verdict"] for c in REPORT["checks"]}
    for s in all_scenarios():
        anchor = "check-" + re.sub(r"[^a-z0-9]+", "-", s.id.lower()).strip("-")
        row = next(line for line in page.splitlines() if f'<a id="{anchor}">' in line)
        if s.id in verdicts:
            assert f"rws-{verdicts[s.id].lower()}" in row
        else:
            assert "not in the recorded run" in row
    for c in CLIENT_SCENARIOS:
        assert f'<a id="check-client-{c.id}"></a>`client.{c.id}`' in page


# -- diagrams -------------------------------------------------------------------------------


def _drawn_label(transition: dict[str, Any]) -> str:
    """How a transition's events are named on an arrow (a family of events: "steer events")."""
    events = transition.get("events") or [transition.get("event", "")]
    first = str(events[0]).removeprefix("response.")
    return f"{first.split('.', 1)[0]} events" if "." in first else first


def test_every_ordering_machine_is_drawn_with_every_transition() -> None:
    """Each machine has its section and a Mermaid diagram with an arrow per transition."""
    rules = json.loads((PROJECT_ROOT / "schemas/rules/ordering.json").read_text("utf-8"))
    page = ordering_page(PROJECT_ROOT)
    for name, machine in rules["machines"].items():
        section = page.split(f"### {name} {{#machine-{name}}}", 1)[1].split("\n### ", 1)[0]
        diagram = section.split("```mermaid\n", 1)[1].split("```", 1)[0]
        # an optional init directive (natural size) comes first, then the diagram itself
        assert diagram.removeprefix(f"{DIAGRAM_INIT}\n").startswith("stateDiagram-v2\n")
        for t in machine["transitions"]:
            for source in t["from"]:
                target = t.get("to") or source
                # states that share their exits are drawn in a group, left by one arrow
                arrows = (f" s_{source} --> s_{target}: ", f" {GROUP_ID} --> s_{target}: ")
                # what every grouped state accepts without changing is said in the group title
                titles = re.findall(r'state "([^"]*keep the state\))" as ' + GROUP_ID, diagram)
                kept = source == target and any(_drawn_label(t) in title for title in titles)
                assert kept or any(a in diagram for a in arrows), (name, source, target)
        for final in machine["final"]:
            assert f"    s_{final} --> [*]" in diagram


def test_cache_page_draws_every_transition_and_rejects_an_unknown_effect(project: Path) -> None:
    """Each cache transition appears in the table; an effect without a drawing stops generation."""
    rules_path = project / "schemas" / "rules" / "cache.json"
    rules = json.loads(rules_path.read_text(encoding="utf-8"))
    page = cache_page(project)
    for t in rules["transitions"]:
        assert f"| `{t['effect']}` |" in page
    rules["transitions"].append({"on": "run_ended", "effect": "teleport", "requirements": []})
    rules_path.write_text(json.dumps(rules), encoding="utf-8")
    with pytest.raises(ValueError, match="teleport"):
        cache_page(project)


# -- the recorded report ----------------------------------------------------------------------


def test_import_report_keeps_verdicts_and_drops_the_wire(tmp_path: Path, project: Path) -> None:
    """The stored copy has every verdict but no wire log, timing or loopback URL."""
    full = copy.deepcopy(REPORT)
    full["target"]["server_url"] = "ws://127.0.0.1:5555/v1/responses"
    for check in full["checks"]:
        check["wire_log"] = [{"ts": 0.0, "conn": "c1", "kind": "open"}]
        check["duration_s"] = 0.01
    source = tmp_path / "report.json"
    source.write_text(json.dumps(full), encoding="utf-8")
    stored = json.loads(docsgen.import_report(project, source).read_text(encoding="utf-8"))
    assert "server_url" not in stored["target"]
    assert all("wire_log" not in c and "duration_s" not in c for c in stored["checks"])
    assert [c["verdict"] for c in stored["checks"]] == [c["verdict"] for c in full["checks"]]
    assert stored["requirements"] == full["requirements"]


def test_import_report_check_compares_verdicts_not_timings(
    tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: published verdicts must come from a run. --check passes a run whose timings
    differ and fails one whose verdicts differ, naming the check, without writing."""
    source = tmp_path / "report.json"
    source.write_text(json.dumps(REPORT), encoding="utf-8")
    docsgen.import_report(project, source)
    slower = copy.deepcopy(REPORT)
    slower["started_at"] = "2030-01-01T00:00:00+00:00"
    for check in slower["checks"]:
        check["duration_s"] = 9.5
    source.write_text(json.dumps(slower), encoding="utf-8")
    args = ["docs", "import-report", "--check", str(source), "--root", str(project)]
    assert main(args) == 0
    changed = copy.deepcopy(REPORT)
    first = changed["checks"][0]
    first["verdict"] = "FAILED" if first["verdict"] != "FAILED" else "PASSED"
    source.write_text(json.dumps(changed), encoding="utf-8")
    stored_before = (project / "docs" / docsgen.REPORT_PATH).read_text(encoding="utf-8")
    assert main(args) == 1
    assert f"stale published verdict: {first['id']}:" in capsys.readouterr().out
    assert (project / "docs" / docsgen.REPORT_PATH).read_text(encoding="utf-8") == stored_before


def test_import_report_refuses_a_file_that_is_not_a_report(tmp_path: Path, project: Path) -> None:
    """Anything but a responses-ws report.json is rejected, and the CLI exits 2."""
    source = tmp_path / "other.json"
    source.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a responses-ws report"):
        docsgen.import_report(project, source)
    assert main(["docs", "import-report", str(source), "--root", str(project)]) == 2


def test_requirement_ids_in_descriptions_link_to_the_index_but_not_inside_code() -> None:
    """``RWS-LANE-3`` in prose becomes a link; inside a code span it stays text."""
    from conformance.docsgen.schema_ref import _linkify

    text = "RWS-LANE-3: a lane name; see `RWS-LANE-3` and x-RWS-LANE-4."
    assert _linkify(text, "reference/defs/envelope.md") == (
        "[RWS-LANE-3](../../requirements.md#rws-lane-3): a lane name; see `RWS-LANE-3` and "
        "x-RWS-LANE-4."
    )


def test_inline_code_survives_backticks_and_table_cells_survive_pipes() -> None:
    """The Markdown helpers keep generated tables well formed whatever the schema says."""
    from conformance.docsgen._markdown import cell, code

    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert cell("one | two\nthree") == "one \\| two three"


def test_rejection_reasons_spell_null_and_booleans_as_json() -> None:
    """A Python literal that jsonschema puts in a message reads as JSON on the page."""
    assert _json_words("$.delta: None is not of type 'string'") == (
        "$.delta: null is not of type 'string'"
    )
    assert _json_words("$.store: True is not of type 'null'") == (
        "$.store: true is not of type 'null'"
    )

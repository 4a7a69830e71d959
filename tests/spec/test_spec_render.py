"""The renderer: requirement markers and generated tables in spec pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.requirements import Requirement, load_requirements
from conformance.spectools.bcp14 import keywords_outside_requirements
from conformance.spectools.render import (
    REQ_END,
    find_markers,
    render_pages,
    render_text,
    write_pages,
)

NO_TABLES: dict[str, Callable[[], list[str]]] = {}


def requirement(rid: str = "RWS-CACHE-4", text: str = "The server MUST do it.") -> Requirement:
    return Requirement(rid, "MUST", "server", "core", text, rid.split("-")[1])


def test_render_puts_anchor_id_level_and_bold_text_after_the_marker() -> None:
    page = "# Cache\n\n<!-- req: RWS-CACHE-4 -->\n\nMore prose.\n"
    rendered = render_text(page, {"RWS-CACHE-4": requirement()}, NO_TABLES)
    assert rendered == (
        "# Cache\n\n<!-- req: RWS-CACHE-4 -->\n\n"
        '<a id="rws-cache-4"></a>**RWS-CACHE-4** (MUST · server · core) — '
        "The server **MUST** do it.\n\n<!-- /req -->\n\nMore prose.\n"
    )


def test_render_is_idempotent_and_replaces_a_stale_block() -> None:
    page = "<!-- req: RWS-CACHE-4 -->\n"
    once = render_text(page, {"RWS-CACHE-4": requirement()}, NO_TABLES)
    assert render_text(once, {"RWS-CACHE-4": requirement()}, NO_TABLES) == once
    changed = requirement(text="The server MUST do something else.")
    again = render_text(once, {"RWS-CACHE-4": changed}, NO_TABLES)
    assert "something else" in again
    assert "do it." not in again
    assert again.count(REQ_END) == 1


def test_render_does_not_swallow_the_block_of_the_next_marker() -> None:
    # The first marker was never rendered; the second one was.
    rendered_second = render_text(
        "<!-- req: RWS-CACHE-5 -->\n", {"RWS-CACHE-5": requirement("RWS-CACHE-5")}, NO_TABLES
    )
    page = "<!-- req: RWS-CACHE-4 -->\n\nProse stays.\n\n" + rendered_second
    out = render_text(
        page,
        {"RWS-CACHE-4": requirement(), "RWS-CACHE-5": requirement("RWS-CACHE-5")},
        NO_TABLES,
    )
    assert "Prose stays." in out
    assert out.count(REQ_END) == 2
    assert [marker.name for marker in find_markers(out)] == ["RWS-CACHE-4", "RWS-CACHE-5"]


def test_render_leaves_a_marker_with_an_unknown_id_without_a_block() -> None:
    page = "<!-- req: RWS-NOPE-1 -->\n\nText.\n"
    assert render_text(page, {}, NO_TABLES) == page


def test_render_ignores_markers_inside_fenced_code() -> None:
    page = "```\n<!-- req: RWS-CACHE-4 -->\n```\n"
    assert render_text(page, {"RWS-CACHE-4": requirement()}, NO_TABLES) == page


def test_rendered_requirement_keywords_are_inside_the_block() -> None:
    page = render_text("<!-- req: RWS-CACHE-4 -->\n", {"RWS-CACHE-4": requirement()}, NO_TABLES)
    assert keywords_outside_requirements(page) == []
    assert keywords_outside_requirements("The client MUST NOT.\n")[0].keyword == "MUST NOT"


def test_error_table_lists_every_code_of_the_error_registry(data_copy: Path) -> None:
    page = data_copy / "spec" / "table-test.md"
    page.write_text("<!-- table: error-codes -->\n", encoding="utf-8")
    rendered = render_pages(data_copy)[page][1]
    registry = json.loads((data_copy / "schemas/rules/errors.json").read_text(encoding="utf-8"))
    for code, entry in registry["codes"].items():
        row = next(line for line in rendered.splitlines() if line.startswith(f"| `{code}` |"))
        assert f"| {entry['status']} |" in row
    assert rendered.rstrip().endswith("<!-- /table -->")


def test_requirement_index_links_each_id_to_the_page_that_places_it(data_copy: Path) -> None:
    page = data_copy / "spec" / "index-test.md"
    page.write_text("<!-- table: requirement-index -->\n", encoding="utf-8")
    rendered = render_pages(data_copy)[page][1]
    for rid in load_requirements(data_copy / "spec"):
        assert f"#{rid.lower()})" in rendered or f"| {rid} |" in rendered


def test_render_command_check_mode_reports_stale_pages_and_render_fixes_them(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = data_copy / "spec" / "stale.md"
    page.write_text("# Stale\n\n<!-- req: RWS-TRANS-1 -->\n", encoding="utf-8")
    assert main(["spec", "render", "--check", "--root", str(data_copy)]) == 1
    assert "stale: spec/stale.md" in capsys.readouterr().out
    assert page in write_pages(data_copy)
    assert main(["spec", "render", "--check", "--root", str(data_copy)]) == 0
    assert 'id="rws-trans-1"' in page.read_text(encoding="utf-8")


def test_ids_cited_in_a_requirement_text_become_links_to_their_page() -> None:
    citing = requirement("RWS-CACHE-7", "The server MUST keep it unless RWS-CACHE-5 applies.")
    page = render_text(
        "<!-- req: RWS-CACHE-7 -->\n",
        {"RWS-CACHE-7": citing},
        NO_TABLES,
        {"RWS-CACHE-5": "cache.md"},
    )
    assert "unless [RWS-CACHE-5](cache.md#rws-cache-5) applies." in page

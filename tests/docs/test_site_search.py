"""The search entries of their own for requirement, check and error-code rows
(``conformance/docsgen/site_search.py``), without a browser.

The pure functions are tested on small HTML inputs: which table rows become entries (an
anchored row does, a row without an id does not), what title an entry gets (the identifier
the first cell shows, which search weighs far above the text), where the entries go in the
search index, and which error-code rows get an anchor. The built site's own search index is
then checked to hold one entry per requirement of ``spec/requirements.yaml``, per check of
the catalogue and per error code of ``schemas/rules/errors.json``, each right after its page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.docsgen.site_search import RowEntry, add_entries, anchor_code_rows, row_entries
from tests.docs.conftest import PROJECT_ROOT

__all__: list[str] = []

REQUIREMENT_ROWS = """
<table>
<thead><tr><th>ID</th><th>Statement</th></tr></thead>
<tbody>
<tr><td><a id="rws-cache-4"></a><strong>RWS-CACHE-4</strong></td>
    <td>MUST answer <code>previous_response_not_found</code> &amp; no run</td></tr>
<tr><td><strong>RWS-CACHE-5</strong></td><td>a row without an anchor</td></tr>
<tr id="rws-cache-6"><td><strong>RWS-CACHE-6</strong></td><td>anchored on the row</td></tr>
<tr><td><a id="notes"></a><strong>Notes</strong></td><td>an anchor, not an identifier</td></tr>
</tbody>
</table>
"""

# An anchor of the check catalogue (docs/checks.md).
_CHECK_ANCHOR = re.compile(r'id="(check-[a-z0-9-]+)"')

ERROR_ROWS = """
<table>
<tr><th>Code</th><th>Status</th></tr>
<tr><td><code>previous_response_not_found</code></td><td>400</td></tr>
<tr><td><code>server_error</code> (retry)</td><td>500</td></tr>
<tr><td><code>not_an_error_code</code></td><td>418</td></tr>
<tr id="kept"><td><code>invalid_json</code></td><td>400</td></tr>
</table>
"""


# --- row_entries -------------------------------------------------------------------------------


def test_row_entries_one_entry_per_anchored_identifier_row() -> None:
    """An anchored row is one entry; a row without an id, and an anchor that is neither a
    requirement ID, a check id nor a known code, give none."""
    entries = row_entries(REQUIREMENT_ROWS)
    assert [e.anchor for e in entries] == ["rws-cache-4", "rws-cache-6"]


def test_row_entries_title_is_the_identifier_and_text_is_the_plain_row() -> None:
    """The title is what the first cell shows in bold (not the anchor), so that search, which
    weighs a title far above the text, ranks the row first for its identifier; the text is
    the whole row without tags or entities."""
    first = row_entries(REQUIREMENT_ROWS)[0]
    assert first.title == "RWS-CACHE-4"
    assert first.text == ("RWS-CACHE-4 MUST answer previous_response_not_found & no run")
    assert first.document("requirements/") == {
        "location": "requirements/#rws-cache-4",
        "title": "RWS-CACHE-4",
        "text": first.text,
    }


def test_row_entries_check_rows_titled_by_their_code_id() -> None:
    """A catalogue row (``check-...`` anchor) is titled by the check id in its ``<code>``."""
    page = (
        '<table><tr><td><a id="check-cache-unknown-previous-response"></a>'
        "<code>cache.unknown-previous-response</code></td><td>an unknown id</td></tr>"
        '<tr><td><a id="check-cache-bare"></a>no name shown</td><td>x</td></tr></table>'
    )
    entries = row_entries(page)
    assert [(e.anchor, e.title) for e in entries] == [
        ("check-cache-unknown-previous-response", "cache.unknown-previous-response"),
        # Nothing in bold or code: the anchor itself names the row.
        ("check-cache-bare", "check-cache-bare"),
    ]


def test_row_entries_known_codes_and_repeated_anchors() -> None:
    """An id that is one of ``codes`` counts; an anchor met twice gives one entry; a table
    header row or text outside any row gives none."""
    page = (
        '<p id="previous_response_not_found">a paragraph, not a row</p>'
        '<table><tr id="previous_response_not_found"><td><code>previous_response_not_found'
        "</code></td><td>400</td></tr>"
        '<tr id="previous_response_not_found"><td><code>again</code></td><td>400</td></tr>'
        '<tr id="server_error"><td><code>server_error</code></td><td>500</td></tr></table>'
    )
    assert row_entries(page) == []  # no code is known: error-code ids are not identifiers
    entries = row_entries(page, codes=["previous_response_not_found"])
    assert entries == [
        RowEntry(
            "previous_response_not_found",
            "previous_response_not_found",
            "previous_response_not_found 400",
        )
    ]


# --- anchor_code_rows --------------------------------------------------------------------------


def test_anchor_code_rows_anchors_exactly_the_rows_of_known_codes() -> None:
    """A row whose first cell is exactly ``<code>name</code>`` of a known code gets
    ``id="name"``; a cell with more than the code, an unknown code, a header row and a row
    that already has an id are left alone."""
    out = anchor_code_rows(
        ERROR_ROWS,
        ["previous_response_not_found", "server_error", "invalid_json", "Code"],
    )
    assert '<tr id="previous_response_not_found"><td><code>previous_response_not_found' in out
    assert 'id="server_error"' not in out
    assert 'id="not_an_error_code"' not in out
    assert 'id="invalid_json"' not in out
    assert '<tr id="kept">' in out
    assert 'id="Code"' not in out
    # Apart from the one id, nothing changed.
    assert out.replace(' id="previous_response_not_found"', "", 1) == ERROR_ROWS


def test_anchored_code_rows_become_entries() -> None:
    """The two steps together, as the hook runs them on the errors page."""
    codes = ["previous_response_not_found", "not_an_error_code"]
    entries = row_entries(anchor_code_rows(ERROR_ROWS, codes), codes)
    assert [(e.anchor, e.title) for e in entries] == [
        ("previous_response_not_found", "previous_response_not_found"),
        ("not_an_error_code", "not_an_error_code"),
    ]


# --- add_entries -------------------------------------------------------------------------------


def _doc(location: str) -> dict[str, str]:
    return {"location": location, "title": location, "text": ""}


def test_add_entries_puts_rows_after_their_page_and_its_sections() -> None:
    """Material maps an entry to the page before it: a page's rows come after the page's own
    entries and before the next page; other keys of the index are kept."""
    index: dict[str, Any] = {
        "config": {"fields": {"title": {"boost": 1000.0}}},
        "docs": [
            _doc("spec/errors/"),
            _doc("spec/errors/#codes"),
            _doc("requirements/"),
            _doc("requirements/#area-cache"),
            _doc("checks/"),
        ],
    }
    rows = {
        "requirements/": [RowEntry("rws-cache-4", "RWS-CACHE-4", "text 4")],
        "spec/errors/": [
            RowEntry("previous_response_not_found", "previous_response_not_found", "t"),
        ],
        "checks/": [],
    }
    out = add_entries(index, rows)
    assert [d["location"] for d in out["docs"]] == [
        "spec/errors/",
        "spec/errors/#codes",
        "spec/errors/#previous_response_not_found",
        "requirements/",
        "requirements/#area-cache",
        "requirements/#rws-cache-4",
        "checks/",
    ]
    assert out["docs"][5] == {
        "location": "requirements/#rws-cache-4",
        "title": "RWS-CACHE-4",
        "text": "text 4",
    }
    assert out["config"] == index["config"]
    assert [d["location"] for d in index["docs"]][2] == "requirements/"  # input untouched


def test_add_entries_last_page_and_unknown_page() -> None:
    """Rows of the index's last page are appended at the end; rows of a page the index does
    not list (excluded from search) are dropped rather than attached to another page."""
    index = {"docs": [_doc("a/"), _doc("b/")]}
    out = add_entries(
        index, {"b/": [RowEntry("rws-x-1", "RWS-X-1", "")], "gone/": [RowEntry("x", "X", "")]}
    )
    assert [d["location"] for d in out["docs"]] == ["a/", "b/", "b/#rws-x-1"]


# --- the built site's search index ---------------------------------------------------------------


@pytest.fixture(scope="module")
def search_index(built_site: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (built_site / "search" / "search_index.json").read_text(encoding="utf-8")
    )
    return data


def _entries(index: dict[str, Any], page: str) -> dict[str, dict[str, Any]]:
    return {
        d["location"].split("#", 1)[1]: d
        for d in index["docs"]
        if d["location"].startswith(page + "#")
    }


def _follows_its_page(index: dict[str, Any], location: str) -> bool:
    """The entry comes after its page's own entry, with only that page's entries between."""
    page = location.split("#", 1)[0]
    locations = [d["location"] for d in index["docs"]]
    position = locations.index(location)
    start = locations.index(page)
    return start < position and all(
        loc.split("#", 1)[0] == page for loc in locations[start:position]
    )


@pytest.mark.slow
def test_built_index_has_an_entry_per_requirement(search_index: dict[str, Any]) -> None:
    """Every requirement of the registry is an entry of the requirement index, titled by its
    ID, its text starting with that ID."""
    registry = yaml.safe_load((PROJECT_ROOT / "spec" / "requirements.yaml").read_text("utf-8"))
    ids = [str(r["id"]) for r in registry["requirements"]]
    assert ids, "no requirement in spec/requirements.yaml"
    rows = _entries(search_index, "requirements/")
    missing = [i for i in ids if rows.get(i.lower(), {}).get("title") != i]
    assert missing == []
    cache4 = rows["rws-cache-4"]
    assert cache4["text"].startswith("RWS-CACHE-4 MUST")
    assert _follows_its_page(search_index, "requirements/#rws-cache-4")


@pytest.mark.slow
def test_built_index_has_an_entry_per_check_and_error_code(
    search_index: dict[str, Any],
) -> None:
    """Every check anchor of the catalogue and every error code of the rule table is an
    entry titled by the check id or the code."""
    checks_md = (PROJECT_ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    anchors = sorted(set(_CHECK_ANCHOR.findall(checks_md)))
    assert anchors, "no check anchor in docs/checks.md"
    rows = _entries(search_index, "checks/")
    assert sorted(a for a in anchors if a not in rows) == []
    unknown = rows["check-cache-unknown-previous-response"]
    assert unknown["title"] == "cache.unknown-previous-response"

    errors = json.loads((PROJECT_ROOT / "schemas/rules/errors.json").read_text("utf-8"))
    codes = sorted(errors["codes"])
    rows = _entries(search_index, "spec/errors/")
    assert [c for c in codes if rows.get(c, {}).get("title") != c] == []
    assert _follows_its_page(search_index, "spec/errors/#previous_response_not_found")


@pytest.mark.slow
def test_built_index_weighs_titles_above_text(search_index: dict[str, Any]) -> None:
    """The row entries rank first for their identifier because search weighs a title far
    above the text (the whole page's text mentions the identifier too)."""
    fields = search_index["config"]["fields"]
    assert fields["title"]["boost"] >= 100 * fields["text"]["boost"]

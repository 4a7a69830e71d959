"""Tests of the JSON Schemas under ``schemas/`` and of their loader ``conformance.schemas``.

Every schema must be a valid 2020-12 schema with the ``$id`` its path gives, every relative
``$ref`` must resolve offline, every example must behave as its file name says (with the fast
and the readable validator agreeing), and the unions must dispatch on ``type``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing.exceptions

from conformance import schemas
from conformance._paths import schemas_dir

__all__: list[str] = []

SCHEMAS = schemas.default_schema_set()
ROOT = schemas_dir()
EXAMPLES = list(SCHEMAS.examples())
ALL_TYPES = sorted(SCHEMAS.client_event_types() | SCHEMAS.server_event_types())


def _schema_files() -> list[Path]:
    def is_schema(path: Path) -> bool:
        folder = path.relative_to(ROOT).parts[0]
        if folder == "rules":
            return "$id" in json.loads(path.read_text(encoding="utf-8"))
        return folder != "examples"

    return sorted(p for p in ROOT.rglob("*.json") if is_schema(p))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key != "properties" or isinstance(value, dict):
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _example_id(example: schemas.Example) -> str:
    return f"{example.event_type}/{example.path.name}"


@pytest.mark.parametrize("path", _schema_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_schema_is_a_valid_draft_2020_12_schema_with_its_path_as_id(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == schemas.SCHEMA_BASE_URI + path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _schema_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_ref_is_relative_and_resolves_offline(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    resolver = SCHEMAS.registry().resolver(base_uri=doc["$id"])
    for ref in _refs(doc):
        assert not ref.startswith(("http:", "https:")), f"{ref} is not relative"
        resolved = resolver.lookup(ref).contents
        assert isinstance(resolved, dict), ref


def test_registry_holds_every_schema_by_id() -> None:
    registry = SCHEMAS.registry()
    for path in _schema_files():
        uri = schemas.SCHEMA_BASE_URI + path.relative_to(ROOT).as_posix()
        assert registry.contents(uri) == json.loads(path.read_text(encoding="utf-8"))


def test_unknown_id_is_not_in_registry() -> None:
    with pytest.raises(referencing.exceptions.NoSuchResource):
        SCHEMAS.registry().contents(schemas.SCHEMA_BASE_URI + "events/server/nope.json")


def test_event_types_are_the_62_server_and_2_client_events() -> None:
    assert schemas.client_event_types() == {"response.create", "response.steer"}
    assert len(schemas.server_event_types()) == 62
    assert {"error", "response.created", "response.steer.failed"} <= schemas.server_event_types()


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_event_schema_discriminates_by_a_type_const_equal_to_its_file_name(
    event_type: str,
) -> None:
    schema = schemas.schema_for(event_type)
    assert schema["properties"]["type"] == {"const": event_type}
    assert "type" in schema["required"]
    assert schema["type"] == "object"


@pytest.mark.parametrize("event_type", sorted(SCHEMAS.server_event_types()))
def test_server_event_envelope_sequence_number_and_stream_id(event_type: str) -> None:
    schema = schemas.schema_for(event_type)
    props = schema["properties"]
    # RWS-SEQ-1 / RWS-SEQ-4: required everywhere except on `error`.
    assert ("sequence_number" in schema["required"]) is (event_type != "error")
    assert props["sequence_number"]["$ref"] == "../../defs/envelope.json#/$defs/sequence_number"
    # RWS-EVENT-4/5: stream_id is optional and always has the lane pattern.
    assert "stream_id" not in schema["required"]
    assert props["stream_id"]["$ref"] == "../../defs/envelope.json#/$defs/stream_id"


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_event_schemas_are_open_except_response_steer(event_type: str) -> None:
    # RWS-EVENT-3 / RWS-CREATE-4: unknown fields are tolerated; RWS-STEER-5 closes steer.
    closed = schemas.schema_for(event_type).get("additionalProperties") is False
    assert closed is (event_type == "response.steer")


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_event_type_has_a_valid_and_an_invalid_example(event_type: str) -> None:
    kinds = {e.valid for e in EXAMPLES if e.event_type == event_type}
    assert kinds == {True, False}


def test_every_example_folder_names_a_known_event_type() -> None:
    folders = {p.name for p in (ROOT / "examples").iterdir() if p.is_dir()}
    assert folders == set(ALL_TYPES)


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_example_behaves_as_its_name_says(example: schemas.Example) -> None:
    assert example.instance["type"] == example.event_type
    assert schemas.is_valid(example.instance) is example.valid
    found = schemas.errors(example.instance)
    assert (found == []) is example.valid
    # The readable validator agrees with the fast one.
    assert schemas.validator(example.event_type).is_valid(example.instance) is example.valid


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_union_dispatches_to_the_event_schema(example: schemas.Example) -> None:
    direction = SCHEMAS.direction_of(example.event_type)
    union = SCHEMAS.schema_by_path(f"{direction}-event.json")
    check = jsonschema.Draft202012Validator(union, registry=SCHEMAS.registry())
    assert check.is_valid(example.instance) is example.valid


@pytest.mark.parametrize("direction", ["client", "server"])
def test_union_lists_exactly_the_event_schema_files(direction: str) -> None:
    union = SCHEMAS.schema_by_path(f"{direction}-event.json")
    refs = {b["then"]["$ref"] for b in union["allOf"]}
    files = {f"events/{direction}/{p.name}" for p in (ROOT / "events" / direction).glob("*.json")}
    assert refs == files
    consts = {b["if"]["properties"]["type"]["const"] for b in union["allOf"]}
    assert consts == {Path(f).stem for f in files}


@pytest.fixture(scope="module")
def server_union() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        SCHEMAS.schema_by_path("server-event.json"), registry=SCHEMAS.registry()
    )


def test_server_union_admits_vendor_events(
    server_union: jsonschema.Draft202012Validator,
) -> None:
    # RWS-EVENT-2: vendor-prefixed types are allowed, anything else unknown is not.
    assert server_union.is_valid({"type": "x-acme.trace", "anything": [1, 2]})
    assert not server_union.is_valid({"type": "response.hologram.delta", "delta": "x"})
    assert not server_union.is_valid({"type": "trace"})
    assert not server_union.is_valid({"type": "x-acme.trace\n"})
    assert not server_union.is_valid({"no_type": True})
    # The fast per-type path knows no vendor events.
    assert not schemas.is_valid({"type": "x-acme.trace"})


def test_client_union_rejects_unknown_client_events() -> None:
    union = jsonschema.Draft202012Validator(
        SCHEMAS.schema_by_path("client-event.json"), registry=SCHEMAS.registry()
    )
    assert union.is_valid({"type": "response.create"})
    assert not union.is_valid({"type": "response.cancel"})
    assert not union.is_valid({"type": "x-acme.ping"})


def _event(event_type: str) -> dict[str, Any]:
    example = next(e for e in EXAMPLES if e.event_type == event_type and e.valid)
    return dict(example.instance)


def test_output_item_union_is_open_for_unknown_types_but_strict_for_known() -> None:
    done = _event("response.output_item.done")
    done["item"] = {"type": "teleport_call", "id": "tp_1", "whatever": {"x": 1}}
    assert schemas.is_valid(done)
    done["item"] = {"type": "mcp_call", "id": "mcp_1"}  # known type, required fields missing
    assert not schemas.is_valid(done)
    assert schemas.errors(done)[0].path == "$.item"


@pytest.mark.parametrize("bad", [None, 3, "text", [], {}, {"type": 7}, {"type": "nope"}])
def test_non_events_are_invalid_with_one_readable_error(bad: object) -> None:
    assert not schemas.is_valid(bad)
    (error,) = schemas.errors(bad)
    assert error.path in ("$", "$.type")
    assert error.message


def test_direction_filter_rejects_events_of_the_other_side() -> None:
    create = _event("response.create")
    assert schemas.is_valid(create, direction="client")
    assert not schemas.is_valid(create, direction="server")
    assert schemas.errors(create, direction="server")[0].path == "$.type"


def test_errors_put_the_best_match_first_with_a_json_path() -> None:
    created = _event("response.created")
    created["response"] = dict(created["response"], status="running")
    created["response"]["output"] = [{"type": "message", "id": "m", "role": "assistant"}]
    found = schemas.errors(created)
    paths = [e.path for e in found]
    assert "$.response.status" in paths
    assert "$.response.output[0]" in paths
    assert found[0].keyword in ("enum", "required")
    assert all(str(e).startswith("$") for e in found)


def test_flat_http_error_shape_is_reported_as_missing_the_wrapper() -> None:
    # RWS-ERR-1: the HTTP-streaming `error` event is not the WebSocket one.
    flat = {"type": "error", "code": "server_error", "message": "boom", "param": None}
    assert not schemas.is_valid(flat)
    assert {e.message for e in schemas.errors(flat)} >= {
        "'status' is a required property",
        "'error' is a required property",
    }


def test_wrapped_create_body_is_explained_by_the_schema_description() -> None:
    found = schemas.errors({"type": "response.create", "response": {"model": "m"}})
    assert found[0].path == "$.response"
    assert "RWS-CREATE-1" in found[0].message


def test_schema_set_loads_a_modified_copy(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(ROOT, copy)
    path = copy / "defs" / "envelope.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["$defs"]["sequence_number"]["minimum"] = 10
    path.write_text(json.dumps(doc), encoding="utf-8")
    broken = schemas.SchemaSet(copy)
    event = _event("response.output_text.delta") | {"sequence_number": 5}
    assert schemas.is_valid(event)
    assert not broken.is_valid(event)
    assert broken.errors(event)[0].path == "$.sequence_number"


def test_schema_set_refuses_an_id_that_does_not_match_the_path(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(ROOT, copy)
    path = copy / "events" / "server" / "error.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["$id"] = schemas.SCHEMA_BASE_URI + "events/server/oops.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match=r"error\.json: \$id"):
        schemas.SchemaSet(copy).server_event_types()


def test_schema_set_refuses_an_example_with_an_unclear_name(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(ROOT, copy)
    (copy / "examples" / "error" / "maybe-ok.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="valid- or invalid-"):
        list(schemas.SchemaSet(copy).examples())


def test_rules_files_are_schemas_only_when_they_declare_an_id(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(ROOT, copy)
    (copy / "rules" / "data.json").write_text('{"codes": {}}', encoding="utf-8")
    rule_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schemas.SCHEMA_BASE_URI + "rules/data.schema.json",
        "type": "object",
    }
    (copy / "rules" / "data.schema.json").write_text(json.dumps(rule_schema), encoding="utf-8")
    registry = schemas.SchemaSet(copy).registry()
    assert registry.contents(rule_schema["$id"]) == rule_schema
    with pytest.raises(referencing.exceptions.NoSuchResource):
        registry.contents(schemas.SCHEMA_BASE_URI + "rules/data.json")


def test_schema_set_needs_an_events_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        schemas.SchemaSet(tmp_path)


def test_error_examples_agree_with_the_error_registry() -> None:
    # RWS-ERR-2: status, type (when present, RWS-ERR-10) and param come from
    # schemas/rules/errors.json for known codes.
    registry = json.loads((ROOT / "rules" / "errors.json").read_text(encoding="utf-8"))["codes"]
    checked = 0
    for example in EXAMPLES:
        if example.event_type != "error" or not example.valid:
            continue
        body = example.instance["error"]
        entry = registry.get(body["code"])
        if entry is None:
            continue
        assert example.instance["status"] == entry["status"], example.path.name
        assert body.get("type", entry["type"]) == entry["type"], example.path.name
        if not str(entry["param"]).startswith("<"):
            assert body.get("param") == entry["param"], example.path.name
        checked += 1
    assert checked >= 3


def test_steer_failed_examples_use_registered_steering_codes() -> None:
    registry = json.loads((ROOT / "rules" / "errors.json").read_text(encoding="utf-8"))
    codes = set(registry["steering_codes"])
    used = {
        e.instance["error"]["code"]
        for e in EXAMPLES
        if e.event_type == "response.steer.failed" and e.valid
    }
    assert used
    assert used <= codes

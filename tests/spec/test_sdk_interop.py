"""Interop of the schemas with the official ``openai`` Python SDK (issue 2, item 8).

``sdk_probe/probe.py`` runs in the peers interpreter (``RWS_PEERS_PYTHON``), where the SDK is
installed, and reports as JSON: the event types of the SDK's unions, how the SDK parses every
valid example (pydantic strict mode), and events built from the SDK's models. This module checks
that report with the project's own loader:

(a) every valid example parses with the SDK model of its type, and the SDK union dispatches it
    to that model - except the listed examples where the spec is deliberately more permissive;
(b) every event built from the SDK models with every field validates against our schema; with
    only the SDK's required fields it validates except for the listed fields the spec requires
    and the SDK leaves optional;
(c) the SDK's unions and our schema files name the same event types.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conformance import schemas
from conformance._paths import schemas_dir

__all__: list[str] = []

pytestmark = pytest.mark.peers

PROBE = Path(__file__).parent / "sdk_probe" / "probe.py"
GENERATOR = Path(__file__).parent / "sdk_probe" / "generate_schemas.py"

# (a) Valid examples the SDK rejects on purpose, with the reason.
SDK_REJECTS = {
    # RWS-EVENT-3: the output-item union is open so that future item types do not fail old
    # validators; the SDK's union is closed.
    "response.output_item.done/valid-unknown-future-item-type.json",
    # RWS-STEER-5 and the SDK docstring: a steering message's `type` is optional; the SDK's
    # generated model makes it required (dossier section 3.2).
    "response.steer/valid-message-type-omitted.json",
    # `logprobs` is optional here: deployed servers and OpenAI's reference examples omit it on
    # text deltas; the SDK's generated model requires it (dossier section 4.2).
    "response.output_text.delta/valid-logprobs-omitted.json",
    "response.output_text.done/valid-logprobs-omitted.json",
    # D10 (revised), RWS-ERR-10: `error.type` is recommended, not required - OpenAI's, Azure's
    # and xAI's guides show errors without it and vLLM sends none; the SDK's model requires it.
    "error/valid-missing-error-type.json",
}

# (b) Fields the spec requires where the SDK model leaves them optional: (event type, path of
# the object, message). Events built from the SDK with only its required fields lack them.
SPEC_REQUIRES = {
    # RWS-ORDER-1 and the ordering grammar read `response.status`.
    ("response.*", "$.response", "'status' is a required property"),
    # Streaming events name items by `item_id`, so an output item needs an `id`
    # (function_call and custom_tool_call have it optional in the SDK).
    ("response.*", "$.response.output[0]", "'id' is a required property"),
    ("response.output_item.*", "$.item", "'id' is a required property"),
    # RWS-ERR-2: every error event carries status and error.code.
    ("error", "$", "'status' is a required property"),
    ("error", "$.error", "'code' is a required property"),
}


def _allowed(event_type: str, path: str, message: str) -> bool:
    for pattern, p, m in SPEC_REQUIRES:
        prefix = pattern.removesuffix("*")
        matches = event_type.startswith(prefix) if pattern.endswith("*") else event_type == prefix
        if matches and p == path and m == message:
            return True
    return False


@cache
def _report() -> dict[str, Any]:
    peers = os.environ["RWS_PEERS_PYTHON"]
    done = subprocess.run(
        [peers, str(PROBE), str(schemas_dir())],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture
def report() -> dict[str, Any]:
    if not os.environ.get("RWS_PEERS_PYTHON"):
        pytest.skip("RWS_PEERS_PYTHON is not set (the peers interpreter with the openai SDK)")
    return _report()


def test_probe_runs_against_the_expected_sdk(report: dict[str, Any]) -> None:
    major = int(report["sdk_version"].split(".")[0])
    assert major >= 3, report["sdk_version"]
    assert sys.version_info >= (3, 11)


def test_sdk_server_union_and_server_schemas_name_the_same_types(report: dict[str, Any]) -> None:
    # (c) no event type of the SDK without a schema, no schema the SDK lacks.
    assert len(report["union"]["server"]) == 62
    assert set(report["union"]["server"]) == schemas.server_event_types()


def test_sdk_client_union_and_client_schemas_name_the_same_types(report: dict[str, Any]) -> None:
    assert set(report["union"]["client"]) == schemas.client_event_types()


def test_every_valid_example_was_offered_to_the_sdk(report: dict[str, Any]) -> None:
    offered = {r["path"] for r in report["examples"]}
    expected = {f"{e.event_type}/{e.path.name}" for e in schemas.examples() if e.valid}
    assert offered == expected
    assert offered >= SDK_REJECTS


def test_valid_examples_parse_strictly_with_the_sdk_model_of_their_type(
    report: dict[str, Any],
) -> None:
    # (a) pydantic strict mode on the JSON text: wrong JSON types are not coerced.
    failures = {
        r["path"]: r["error"]
        for r in report["examples"]
        if r["error"] is not None and r["path"] not in SDK_REJECTS
    }
    assert failures == {}
    # The exceptions are real: if the SDK starts accepting them, the list must shrink.
    rejected = {r["path"] for r in report["examples"] if r["error"] is not None}
    assert rejected == SDK_REJECTS


def test_sdk_union_dispatches_each_valid_example_to_its_own_class(report: dict[str, Any]) -> None:
    classes: dict[str, set[str]] = {}
    for r in report["examples"]:
        if r["path"] in SDK_REJECTS:
            continue
        assert r["union_class"] is not None, (r["path"], r.get("union_error"))
        classes.setdefault(r["event_type"], set()).add(r["union_class"])
    # One SDK class per event type, and a different one for each type.
    assert all(len(names) == 1 for names in classes.values()), classes
    assert len({next(iter(n)) for n in classes.values()}) == len(classes)


def test_sdk_builder_produced_every_event_class(report: dict[str, Any]) -> None:
    built = report["built"]
    assert [b for b in built if "sdk_error" in b] == []
    assert {b["event_type"] for b in built} == set(report["union"]["server"])
    # Every member of the output-item union appears in `response.output_item.added`.
    items = {
        b["instance"]["item"]["type"]
        for b in built
        if b["event_type"] == "response.output_item.added"
    }
    union = schemas.default_schema_set().schema_by_path("defs/output-item.json")
    known = {branch["if"]["properties"]["type"]["const"] for branch in union["allOf"]}
    assert items == known
    assert len(known) == 28


def test_sdk_built_events_with_every_field_validate(report: dict[str, Any]) -> None:
    # (b) everything the SDK can express, we accept.
    invalid = [
        (b["class"], b["variant"], [str(e) for e in schemas.errors(b["instance"])][:3])
        for b in report["built"]
        if b.get("full") and not schemas.is_valid(b["instance"])
    ]
    assert invalid == []


def test_sdk_built_events_with_required_fields_only_fail_only_where_the_spec_is_stricter(
    report: dict[str, Any],
) -> None:
    unexpected: list[tuple[str, str, str]] = []
    deviations: set[tuple[str, str]] = set()
    for b in report["built"]:
        if b.get("full") is not False:
            continue
        for error in schemas.errors(b["instance"]):
            if _allowed(b["event_type"], error.path, error.message):
                deviations.add((error.path, error.message))
            else:
                unexpected.append((b["event_type"], error.path, error.message))
    assert unexpected == []
    # Every listed deviation is still a real one (the SDK still leaves the field optional).
    assert {(p, m) for _, p, m in SPEC_REQUIRES} == deviations


def test_sdk_built_stream_ids_and_sequence_numbers_fit_the_envelope(
    report: dict[str, Any],
) -> None:
    for b in report["built"]:
        instance = b["instance"]
        if b.get("full") and "stream_id" in instance:
            assert schemas.is_valid(instance | {"stream_id": "x" * 256})
            assert not schemas.is_valid(instance | {"stream_id": "x" * 257})
        if b["event_type"] != "error":
            assert "sequence_number" in instance


def test_generated_schemas_are_what_the_generator_makes_from_this_sdk(
    report: dict[str, Any], tmp_path: Path
) -> None:
    # The SDK-derived schemas are committed; regenerating them into a copy changes nothing,
    # so a hand edit of a generated file (or an SDK upgrade) shows up here.
    copy = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), copy)
    done = subprocess.run(
        [os.environ["RWS_PEERS_PYTHON"], str(GENERATOR), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    changed = [
        path.relative_to(copy).as_posix()
        for path in sorted(copy.rglob("*.json"))
        if path.read_bytes() != (schemas_dir() / path.relative_to(copy)).read_bytes()
    ]
    assert changed == []

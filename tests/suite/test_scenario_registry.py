"""Invariants of the server suite's scenario registry and of its coverage of the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conformance.harness.config import SuiteConfig
from conformance.harness.registry import REGISTRY, scenario
from conformance.requirements import PROFILES, load_requirements
from conformance.scenarios import all_scenarios

EXCLUSIONS = Path(__file__).resolve().parents[2] / "conformance" / "exclusions.yaml"
ID_FORMAT = re.compile(r"^[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*$")


def _exclusions() -> dict[str, str]:
    data = yaml.safe_load(EXCLUSIONS.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data["exclusions"].items()}


def _server_obligations() -> set[str]:
    return {
        r.id
        for r in load_requirements().values()
        if r.role == "server" and r.status == "active" and r.level != "MAY"
    }


def test_scenario_ids_are_unique_stable_slugs() -> None:
    ids = [s.id for s in all_scenarios()]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not ID_FORMAT.match(i)] == []


def test_registering_a_duplicate_id_is_refused() -> None:
    existing = next(iter(REGISTRY))

    async def again(ctx: object) -> None:
        raise AssertionError("never run")

    with pytest.raises(ValueError, match="duplicate"):
        scenario(existing, "dup", requirements=("RWS-TRANS-1",), drives="nothing")(again)


def test_every_scenario_names_existing_active_requirements() -> None:
    requirements = load_requirements()
    unknown = {
        s.id: [
            r for r in s.requirements if r not in requirements or requirements[r].status != "active"
        ]
        for s in all_scenarios()
    }
    assert {k: v for k, v in unknown.items() if v} == {}


def test_every_scenario_has_a_title_a_known_profile_and_says_what_it_drives() -> None:
    for s in all_scenarios():
        assert s.requirements, s.id
        assert s.title, s.id
        assert "\n" not in s.title, s.id
        assert s.drives, s.id
        assert {s.profile, *s.extra_profiles} <= set(PROFILES), s.id


def test_every_server_must_and_should_is_checked_or_excluded() -> None:
    checked = {r for s in all_scenarios() for r in s.requirements}
    missing = _server_obligations() - checked - set(_exclusions())
    assert sorted(missing) == []


def test_exclusions_name_unchecked_server_requirements_with_a_reason() -> None:
    checked = {r for s in all_scenarios() for r in s.requirements}
    exclusions = _exclusions()
    assert sorted(set(exclusions) - _server_obligations()) == []
    assert sorted(set(exclusions) & checked) == []
    assert [k for k, reason in exclusions.items() if len(reason) < 20] == []


def test_scripted_scenarios_are_skipped_with_a_reason_for_another_model() -> None:
    config = SuiteConfig(server_url="ws://x", model="gpt-something", profiles=frozenset(PROFILES))
    reasons = {s.id: s.skip_reason(config) for s in all_scenarios() if s.needs_model}
    assert reasons
    assert all(r is not None and "conformance-1" in r for r in reasons.values())
    runnable = [
        s.id for s in all_scenarios() if not s.needs_model and s.skip_reason(config) is None
    ]
    assert "handshake.upgrade-101" in runnable


def test_undeclared_profile_skips_multiplex_scenarios() -> None:
    config = SuiteConfig(server_url="ws://x", profiles=frozenset({"core", "conformance-model"}))
    multiplex = [s for s in all_scenarios() if s.profile == "multiplex"]
    assert multiplex
    assert all(s.skip_reason(config) == "profile 'multiplex' not declared" for s in multiplex)


def test_deliberate_violations_name_client_requirements() -> None:
    requirements = load_requirements()
    wrong = {
        s.id: [r for r in s.deliberate if r not in requirements or requirements[r].role != "client"]
        for s in all_scenarios()
    }
    assert {k: v for k, v in wrong.items() if v} == {}

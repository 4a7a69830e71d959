"""The public interface of ``reference_impl.model``: the names and shapes the server uses."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import reference_impl.model as model
from reference_impl.model import context, directives, freeform, instances, run, seeded, text

__all__: list[str] = []


@pytest.mark.parametrize(
    "module", [model, context, directives, run, text, freeform, instances, seeded]
)
def test_every_exported_name_exists(module: object) -> None:
    """Each module's ``__all__`` names only what it defines."""
    for name in module.__all__:  # type: ignore[attr-defined]
        assert hasattr(module, name), name


def test_package_exports_the_server_interface() -> None:
    """The names the reference server uses are re-exported by the package."""
    expected = {
        "MODEL_ID",
        "GeneratedRun",
        "build_context",
        "context_digest",
        "generate_run",
        "latest_user_text",
        "normalize_input",
        "parse_directives",
        "tokens",
    }
    assert expected <= set(model.__all__)
    assert model.MODEL_ID == "conformance-1"
    # The models the server serves, by id, each with the prepare_run signature.
    assert set(model.MODELS) == {"conformance-1", "freeform-1"}
    for prepare in model.MODELS.values():
        assert list(inspect.signature(prepare).parameters) == [
            "response",
            "context",
            "request",
            "restored_items",
            "ids",
        ]


def test_generate_run_takes_keyword_only_arguments() -> None:
    """generate_run(*, response, context, request, restored_items, ids)."""
    parameters = inspect.signature(model.generate_run).parameters
    assert list(parameters) == ["response", "context", "request", "restored_items", "ids"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


def test_generated_run_is_a_frozen_dataclass_with_the_agreed_fields() -> None:
    """GeneratedRun(events, delay_s, status, response, output), immutable."""
    fields = [f.name for f in dataclasses.fields(model.GeneratedRun)]
    assert fields == ["events", "delay_s", "status", "response", "output"]
    result = model.generate_run(
        response={"id": "resp_1", "created_at": 0},
        context=model.normalize_input("hi"),
        request={},
        restored_items=0,
        ids=lambda prefix: f"{prefix}_1",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]


def test_directives_are_frozen() -> None:
    """Directive objects cannot be changed after parsing."""
    (directive,) = model.parse_directives("rws:text length=3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        directive.length = 4  # type: ignore[misc,union-attr]

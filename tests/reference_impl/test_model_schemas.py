"""Every event of the ``conformance-1`` model validates against the project's JSON Schemas.

The schemas are the contract between the reference server and the suite; the model's events are
most of what the reference server sends, so they are checked here event by event (with the
``sequence_number`` the server adds), for fixed scenarios and for any mix of directives.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import schemas
from reference_impl.model import GeneratedRun, generate_run, normalize_input

__all__: list[str] = []

SKELETON: dict[str, Any] = {
    "id": "resp_schema",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": "conformance-1",
    "status": "in_progress",
    "output": [],
    "previous_response_id": None,
    "instructions": None,
    "store": True,
    "usage": None,
}

SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("hello", {}),
    "text": ("rws:text length=50 chunks=6", {}),
    "refusal": ("rws:refusal length=9 chunks=2", {}),
    "reasoning": ("rws:reasoning summary=20 text=11 chunks=3", {}),
    "call": ('rws:call name=get_weather chunks=4 arguments={"city": "Zürich"}', {}),
    "loop_context": ("rws:loop calls=1 name=step\nrws:context", {}),
    "custom": ("rws:custom name=run_shell chunks=3 input=ls -la | wc -l", {}),
    "mcp": ('rws:mcp server=docs name=search chunks=2 arguments={"q": "x"}', {}),
    "mcp_cut": ('rws:mcp server=docs name=search arguments={"q": "xyz"}', {"max_output_tokens": 1}),
    "code": ("rws:code chunks=4 code=print(sum(range(10)))", {}),
    "annotations": ("rws:text length=30 chunks=4 annotations=5", {}),
    "max_output_tokens": (
        "rws:reasoning summary=40 text=9\nrws:text length=9",
        {"max_output_tokens": 3},
    ),
    "incomplete": ("rws:text length=5\nrws:incomplete", {}),
    "fail": ("rws:text length=30 chunks=10\nrws:fail after=7", {}),
    "generate_false": ("rws:text length=5", {"generate": False}),
}


def generate(text: str, request: dict[str, Any]) -> GeneratedRun:
    counter = itertools.count()
    return generate_run(
        response=SKELETON,
        context=normalize_input(text),
        request=request,
        restored_items=0,
        ids=lambda prefix: f"{prefix}_{next(counter):08x}",
    )


def schema_errors(result: GeneratedRun) -> list[str]:
    found: list[str] = []
    for number, event in enumerate(result.events):
        wire = {**event, "sequence_number": number}
        found.extend(f"{event['type']}: {error}" for error in schemas.errors(wire))
    return found


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_model_events_validate_against_schemas(name: str) -> None:
    """Each event of each scenario passes its event schema."""
    text, request = SCENARIOS[name]
    assert schema_errors(generate(text, request)) == []


_lines = st.sampled_from(
    [
        "rws:text length=7 chunks=3",
        "rws:refusal length=4",
        "rws:reasoning summary=6 text=5 chunks=2",
        "rws:reasoning summary=0",
        "rws:call name=f chunks=2 arguments={}",
        "rws:custom name=c chunks=2 input=a b",
        "rws:mcp server=s name=m chunks=2 arguments={}",
        "rws:code chunks=2 code=x = 1",
        "rws:text length=9 chunks=2 annotations=2",
        "rws:loop calls=1 name=g",
        "rws:context",
        "rws:incomplete",
        "rws:fail after=6",
        "rws:delay ms=1",
    ]
)


@settings(deadline=None, max_examples=40)
@given(st.lists(_lines, max_size=6), st.one_of(st.none(), st.integers(0, 8)))
def test_any_directive_mix_validates_against_schemas(
    lines: list[str], max_output_tokens: int | None
) -> None:
    """Any mix of directives and budgets gives schema-valid events."""
    request = {} if max_output_tokens is None else {"max_output_tokens": max_output_tokens}
    assert schema_errors(generate("\n".join(lines), request)) == []

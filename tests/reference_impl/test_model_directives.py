"""Tests of the directive parser of ``conformance-1`` (appendix A.3)."""

from __future__ import annotations

import pytest

from reference_impl.model import (
    CallDirective,
    CodeDirective,
    ContextDirective,
    CustomDirective,
    DelayDirective,
    Directive,
    FailDirective,
    IncompleteDirective,
    LoopDirective,
    McpDirective,
    ReasoningDirective,
    RefusalDirective,
    TextDirective,
    parse_directives,
)

__all__: list[str] = []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("rws:text length=12 chunks=3", TextDirective(length=12, chunks=3)),
        ("rws:text length=5", TextDirective(length=5, chunks=1)),
        (
            "rws:text length=9 chunks=2 annotations=3",
            TextDirective(length=9, chunks=2, annotations=3),
        ),
        ("rws:refusal length=4 chunks=2", RefusalDirective(length=4, chunks=2)),
        (
            "rws:reasoning summary=10 text=20 chunks=4",
            ReasoningDirective(summary=10, text=20, chunks=4),
        ),
        (
            'rws:call name=get_weather chunks=3 arguments={"city": "Paris", "unit": "C"}',
            CallDirective(name="get_weather", chunks=3, arguments='{"city": "Paris", "unit": "C"}'),
        ),
        (
            'rws:loop calls=3 name=add arguments={"a": 1}',
            LoopDirective(calls=3, name="add", arguments='{"a": 1}'),
        ),
        (
            "rws:custom name=run_shell chunks=2 input=ls -la | wc -l",
            CustomDirective(name="run_shell", chunks=2, input="ls -la | wc -l"),
        ),
        (
            'rws:mcp server=docs name=search chunks=3 arguments={"q": "a b"}',
            McpDirective(server="docs", name="search", chunks=3, arguments='{"q": "a b"}'),
        ),
        ("rws:code chunks=4 code=print(1 + 2)", CodeDirective(chunks=4, code="print(1 + 2)")),
        ("rws:context", ContextDirective()),
        ("rws:incomplete", IncompleteDirective()),
        ("rws:fail after=5", FailDirective(after=5)),
        ("rws:delay ms=250", DelayDirective(ms=250)),
    ],
)
def test_each_verb_parses_into_its_directive(line: str, expected: Directive) -> None:
    """Every verb of the A.3 table gives its dataclass with the written values."""
    assert parse_directives(line) == (expected,)


def test_directives_come_in_line_order_and_other_lines_are_ignored() -> None:
    """Lines split on newline, stripped; non-directive lines are ignored."""
    text = "Please answer.\n  rws:text length=3  \r\nsome prose rws:text length=9\nrws:context\n"
    assert parse_directives(text) == (TextDirective(length=3), ContextDirective())


def test_unknown_verbs_and_keys_are_ignored() -> None:
    """An unknown verb drops the line; an unknown key is skipped."""
    text = "rws:dance speed=3\nrws:text length=2 colour=red chunks=2\nrws:\nrws:Text length=1"
    assert parse_directives(text) == (TextDirective(length=2, chunks=2),)


def test_arguments_value_is_the_rest_of_the_line() -> None:
    """Spaces and '=' inside arguments are kept, later key=value text is part of it."""
    (directive,) = parse_directives('rws:call name=f arguments={"q": "a = b  c"} chunks=9')
    assert directive == CallDirective(name="f", chunks=1, arguments='{"q": "a = b  c"} chunks=9')


def test_input_and_code_values_are_the_rest_of_the_line() -> None:
    """A.3: input and code take the rest of the line as arguments does."""
    assert parse_directives("rws:custom input=a b=c chunks=2\nrws:code code=x = 1 chunks=3") == (
        CustomDirective(input="a b=c chunks=2"),
        CodeDirective(code="x = 1 chunks=3"),
    )


def test_arguments_keep_non_ascii_text_exactly() -> None:
    """The arguments JSON is taken exactly as written, not re-serialised."""
    (directive,) = parse_directives('rws:call name=f arguments={"city":"Zürich"}')
    assert isinstance(directive, CallDirective)
    assert directive.arguments == '{"city":"Zürich"}'


def test_malformed_numbers_keep_defaults() -> None:
    """A value that is not a non-negative integer is ignored like an unknown key."""
    assert parse_directives("rws:text length=-3 chunks=two") == (TextDirective(),)
    assert parse_directives("rws:fail after=x") == (FailDirective(after=1),)


def test_loop_ignores_chunks_key() -> None:
    """chunks is not a key of rws:loop in the A.3 table, so it is ignored there."""
    assert parse_directives("rws:loop calls=2 chunks=5 name=f") == (
        LoopDirective(calls=2, name="f"),
    )


def test_defaults_of_missing_keys() -> None:
    """Missing keys: counts 0, chunks 1, fail after 1, name empty, arguments an empty object."""
    assert parse_directives("rws:call\nrws:reasoning\nrws:loop") == (
        CallDirective(name="", chunks=1, arguments="{}"),
        ReasoningDirective(summary=0, text=0, chunks=1),
        LoopDirective(calls=0, name="", arguments="{}"),
    )
    assert parse_directives("rws:custom\nrws:mcp\nrws:code\nrws:text") == (
        CustomDirective(name="", chunks=1, input=""),
        McpDirective(server="", name="", chunks=1, arguments="{}"),
        CodeDirective(chunks=1, code=""),
        TextDirective(length=0, chunks=1, annotations=0),
    )

"""The directives of the ``conformance-1`` model (appendix A.3) and their parser.

A directive is a line ``rws:<verb> key=value ...`` of the latest user message. Each verb is one
frozen dataclass; ``VERBS`` is the table from verb to the class and the keys it reads. Unknown
verbs and keys are ignored, and so are malformed values: a key whose value does not parse keeps
its default, so that parsing never fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "VERBS",
    "CallDirective",
    "CodeDirective",
    "ContextDirective",
    "CustomDirective",
    "DelayDirective",
    "Directive",
    "FailDirective",
    "IncompleteDirective",
    "ItemDirective",
    "LoopDirective",
    "McpDirective",
    "ReasoningDirective",
    "RefusalDirective",
    "TextDirective",
    "iter_directives",
    "parse_directive",
    "parse_directives",
]

_LINE = re.compile(r"rws:(\S*)(.*)", re.DOTALL)
_TOKEN = re.compile(r"\S+")
_COUNT = re.compile(r"[0-9]+")
# A.3: "Values contain no spaces, except those of arguments, input and code: each of these
# takes the rest of the line".
_REST_OF_LINE_KEYS = frozenset({"arguments", "input", "code"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDirective:
    """``rws:text length=N chunks=K annotations=M``: an assistant message with one
    ``output_text`` part carrying ``M`` ``url_citation`` annotations."""

    length: int = 0
    chunks: int = 1
    annotations: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalDirective:
    """``rws:refusal length=N chunks=K``: an assistant message with one ``refusal`` part."""

    length: int = 0
    chunks: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDirective:
    """``rws:reasoning summary=N text=M chunks=K``: a reasoning item (summary, optional text)."""

    summary: int = 0
    text: int = 0
    chunks: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDirective:
    """``rws:call name=NAME chunks=K arguments=JSON``: a function call, only while ``P`` = 0."""

    name: str = ""
    chunks: int = 1
    arguments: str = "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomDirective:
    """``rws:custom name=NAME chunks=K input=TEXT``: a custom tool call, only while ``P`` = 0."""

    name: str = ""
    chunks: int = 1
    input: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class McpDirective:
    """``rws:mcp server=LABEL name=NAME chunks=K arguments=JSON``: an MCP call, only while
    ``P`` = 0."""

    server: str = ""
    name: str = ""
    chunks: int = 1
    arguments: str = "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeDirective:
    """``rws:code chunks=K code=TEXT``: a code interpreter call, only while ``P`` = 0."""

    chunks: int = 1
    code: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopDirective:
    """``rws:loop calls=N name=NAME arguments=JSON``: a call while ``P`` < N, then a message."""

    calls: int = 0
    name: str = ""
    arguments: str = "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextDirective:
    """``rws:context``: a message reporting the number of context items and the digest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncompleteDirective:
    """``rws:incomplete``: end ``incomplete`` (``max_output_tokens``) after the first item."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FailDirective:
    """``rws:fail after=N``: end with ``response.failed`` after the run's N-th event."""

    after: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DelayDirective:
    """``rws:delay ms=N``: wait N milliseconds before every event after ``response.created``."""

    ms: int = 0


ItemDirective = (
    TextDirective
    | RefusalDirective
    | ReasoningDirective
    | CallDirective
    | CustomDirective
    | McpDirective
    | CodeDirective
    | LoopDirective
    | ContextDirective
)
Directive = ItemDirective | IncompleteDirective | FailDirective | DelayDirective

_Count = Callable[[str], int | None]
_Str = Callable[[str], str | None]


def _count(value: str) -> int | None:
    # Non-negative decimal integers only; anything else is malformed and keeps the default.
    return int(value) if _COUNT.fullmatch(value) else None


def _string(value: str) -> str | None:
    return value


# The directive table (A.3): verb -> (class, {key: value parser}).
VERBS: Mapping[str, tuple[type[Directive], Mapping[str, _Count | _Str]]] = {
    "text": (TextDirective, {"length": _count, "chunks": _count, "annotations": _count}),
    "refusal": (RefusalDirective, {"length": _count, "chunks": _count}),
    "reasoning": (ReasoningDirective, {"summary": _count, "text": _count, "chunks": _count}),
    "call": (CallDirective, {"name": _string, "chunks": _count, "arguments": _string}),
    "custom": (CustomDirective, {"name": _string, "chunks": _count, "input": _string}),
    "mcp": (
        McpDirective,
        {"server": _string, "name": _string, "chunks": _count, "arguments": _string},
    ),
    "code": (CodeDirective, {"chunks": _count, "code": _string}),
    "loop": (LoopDirective, {"calls": _count, "name": _string, "arguments": _string}),
    "context": (ContextDirective, {}),
    "incomplete": (IncompleteDirective, {}),
    "fail": (FailDirective, {"after": _count}),
    "delay": (DelayDirective, {"ms": _count}),
}


def _key_values(rest: str) -> dict[str, str]:
    """Split ``key=value key=value ...``; ``arguments=``, ``input=`` and ``code=`` take the
    rest of the line."""
    values: dict[str, str] = {}
    for match in _TOKEN.finditer(rest):
        key, sep, value = match.group().partition("=")
        if not sep:
            continue  # not key=value: ignored like any other unknown token
        if key in _REST_OF_LINE_KEYS:
            values[key] = rest[match.start() + len(key) + 1 :]
            break
        values[key] = value
    return values


def parse_directive(line: str) -> Directive | None:
    """Parse one line; return its directive, or None when it is not a directive of a known verb."""
    match = _LINE.fullmatch(line.strip())
    if match is None:
        return None
    verb, rest = match.groups()
    entry = VERBS.get(verb)
    if entry is None:
        return None
    cls, keys = entry
    fields: dict[str, Any] = {}
    for key, raw in _key_values(rest).items():
        parser = keys.get(key)
        if parser is None:
            continue
        value = parser(raw)
        if value is not None:
            fields[key] = value
    return cls(**fields)


def iter_directives(text: str) -> Iterator[Directive]:
    """Yield the directives of a message text, in the order of their lines (A.3), lazily."""
    found = (parse_directive(line) for line in text.split("\n"))
    return (d for d in found if d is not None)


def parse_directives(text: str) -> tuple[Directive, ...]:
    """Return the directives of a message text, in the order of their lines (A.3)."""
    return tuple(iter_directives(text))

"""Find the key words of BCP 14 (RFC 2119, RFC 8174) in requirement texts and spec pages.

Only upper-case key words count (RFC 8174: "when, and only when, they appear in all
capitals"). Key words inside inline code spans, fenced code blocks, rendered requirement
blocks and the explicit exemption block (the BCP 14 paragraph, which quotes them) are not
normative statements and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "EXEMPT_END",
    "EXEMPT_START",
    "KEYWORD_PATTERN",
    "KeywordHit",
    "bold_keywords",
    "keywords",
    "keywords_outside_requirements",
]

# Longest alternatives first, so that "MUST NOT" is one key word and not "MUST".
KEYWORD_PATTERN = re.compile(
    r"\b(NOT RECOMMENDED|MUST NOT|SHALL NOT|SHOULD NOT|MUST|SHALL|SHOULD|RECOMMENDED|"
    r"REQUIRED|MAY|OPTIONAL)\b"
)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_FENCE = re.compile(r"^\s*(```|~~~)")

EXEMPT_START = "<!-- bcp14-exempt -->"
EXEMPT_END = "<!-- /bcp14-exempt -->"
# Kept in step with conformance.spectools.render (imported there would be circular).
_REQ_START = re.compile(r"^<!-- (?:req|table): \S+ -->\s*$")
_REQ_END = ("<!-- /req -->", "<!-- /table -->")


@dataclass(frozen=True)
class KeywordHit:
    """A key word found in a page: 1-based line number and the key word."""

    line: int
    keyword: str


def _blank_code_spans(text: str) -> str:
    # Replace code spans by spaces of the same length so that columns stay meaningful.
    return _CODE_SPAN.sub(lambda match: " " * len(match.group(0)), text)


def keywords(text: str) -> list[str]:
    """Return the BCP 14 key words of ``text`` in order, ignoring inline code."""
    return KEYWORD_PATTERN.findall(_blank_code_spans(text))


def bold_keywords(text: str) -> str:
    """Return ``text`` with every key word outside inline code set in bold."""
    pieces: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(KEYWORD_PATTERN.sub(r"**\1**", text[position : span.start()]))
        pieces.append(span.group(0))
        position = span.end()
    pieces.append(KEYWORD_PATTERN.sub(r"**\1**", text[position:]))
    return "".join(pieces)


def keywords_outside_requirements(page: str) -> list[KeywordHit]:
    """Return the key words of a Markdown page that are not inside a requirement block.

    Skipped: fenced code blocks, rendered requirement blocks (``<!-- req: ... -->`` to
    ``<!-- /req -->``), generated tables (``<!-- table: ... -->`` to ``<!-- /table -->``,
    whose cells come from the registries), exemption blocks and one-line HTML comments.
    """
    hits: list[KeywordHit] = []
    fence: str | None = None
    in_requirement = False
    in_exemption = False
    for number, line in enumerate(page.splitlines(), start=1):
        stripped = line.strip()
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1) == fence:
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        if _REQ_START.match(stripped):
            in_requirement = True
            continue
        if stripped in _REQ_END:
            in_requirement = False
            continue
        if stripped == EXEMPT_START:
            in_exemption = True
            continue
        if stripped == EXEMPT_END:
            in_exemption = False
            continue
        if in_requirement or in_exemption:
            continue
        if stripped.startswith("<!--") and stripped.endswith("-->"):
            continue
        hits.extend(KeywordHit(number, keyword) for keyword in keywords(line))
    return hits

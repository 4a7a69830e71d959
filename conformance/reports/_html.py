"""Building blocks of report.html shared by its sections: escaping, verdict badges,
requirement IDs that never break at their hyphens, requirement text rendered as the spec
shows it, links to the published specification, the site's check anchors, and findings split
into expected and actual.

Everything that comes from the run passes through :func:`esc` (``html.escape(...,
quote=True)``): a server under test controls the wire text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from conformance._paths import spec_dir

__all__ = [
    "DEFAULT_SPEC_BASE_URL",
    "FINDING_SPLIT",
    "WIRE_TEXT_LIMIT",
    "SpecLinks",
    "badge",
    "check_anchor",
    "cut",
    "esc",
    "findings",
    "rendered",
    "req_anchor",
    "req_link",
    "rid",
    "spec_pages",
    "wire_anchor",
]

# A wire message longer than this is cut in the HTML (report.json keeps it whole), so that a
# server streaming megabytes cannot make the page unreadable.
WIRE_TEXT_LIMIT = 4000

#: The published site the spec links point to (mkdocs.yml ``site_url``).
DEFAULT_SPEC_BASE_URL = "https://responses-ws.org/"


def esc(value: object) -> str:
    """``value`` as HTML text, quotes escaped too."""
    return html.escape(str(value), quote=True)


def badge(label: str) -> str:
    """A verdict label as a coloured badge."""
    return f'<span class="v v-{esc(label)}">{esc(label)}</span>'


def check_anchor(check_id: str) -> str:
    """The check's anchor, the same as on the site's checks page (docs/checks.md)."""
    return "check-" + re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")


def rid(requirement_id: str) -> str:
    """A requirement ID that never breaks at its hyphens."""
    return f'<span class="rid">{esc(requirement_id)}</span>'


_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def rendered(text: str) -> str:
    """Requirement text as the spec shows it: `code` and **bold** rendered, all escaped."""
    escaped = esc(text)
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    return _STRONG.sub(lambda m: f"<strong>{m.group(1)}</strong>", escaped)


def cut(text: str) -> str:
    """``text`` cut to :data:`WIRE_TEXT_LIMIT` characters, saying how many were left out."""
    if len(text) <= WIRE_TEXT_LIMIT:
        return text
    return f"{text[:WIRE_TEXT_LIMIT]} … ({len(text) - WIRE_TEXT_LIMIT} more characters)"


# The anchor `spec render` writes before each requirement statement of a spec page (the same
# pattern the docs generator reads; importing it from there would be a circular import).
_SPEC_ANCHOR = re.compile(r'<a id="(rws-[a-z]+-[0-9]+)"></a>')


def spec_pages() -> dict[str, str]:
    """Requirement ID -> the spec page that states it; empty when the spec cannot be read
    (a finished run's report must still be written)."""
    found: dict[str, str] = {}
    try:
        for page in sorted(spec_dir().glob("*.md")):
            for anchor in _SPEC_ANCHOR.findall(page.read_text(encoding="utf-8")):
                found.setdefault(anchor.upper(), f"spec/{page.name}")
    except OSError:
        return {}
    return found


def req_anchor(requirement_id: str) -> str:
    """The anchor of the requirement's row in the report's requirement table."""
    return "req-" + requirement_id.lower()


def req_link(requirement_id: str) -> str:
    """A link to the requirement's row in the report."""
    return f'<a href="#{esc(req_anchor(requirement_id))}">{rid(requirement_id)}</a>'


@dataclass(frozen=True)
class SpecLinks:
    """Where the published specification states each requirement."""

    base: str  # the site's base URL
    pages: Mapping[str, str]  # requirement ID -> "spec/cache.md"

    def url(self, requirement_id: str) -> str:
        """The requirement on the site: its spec page (directory URLs, as mkdocs builds
        them), or the requirement index when the page is not known."""
        page = self.pages.get(requirement_id, "requirements.md").removesuffix(".md")
        return f"{self.base.rstrip('/')}/{page}/#{requirement_id.lower()}"

    def link(self, requirement_id: str) -> str:
        """A muted link to the requirement on the site, named by its page."""
        where = self.pages.get(requirement_id, "requirements.md").removesuffix(".md")
        return (
            f'<a class="muted" href="{esc(self.url(requirement_id))}">'
            f"{esc(where)}#{esc(requirement_id.lower())}</a>"
        )


# A message joins its findings with "; "; each finding that starts a new statement (an
# "expected ..." or a requirement's "RWS-..." verdict) goes on a line of its own.
FINDING_SPLIT = re.compile(r";\s+(?=expected\b|RWS-[A-Z]+-\d+\b)")
_ACTUAL = re.compile(r"\s/\s(?=actual\b)")


def findings(message: str) -> str:
    """The message as one block per finding, with "expected" and "actual" on separate,
    coloured lines."""
    blocks = []
    for line in message.strip().splitlines():
        for finding in FINDING_SPLIT.split(line):
            parts = _ACTUAL.split(finding, maxsplit=1)
            if len(parts) == 2:
                expected, actual = (esc(part) for part in parts)
                body = f'<span class="exp">{expected}</span>\n<span class="act">{actual}</span>'
            else:
                body = esc(finding)
            blocks.append(f'<pre class="finding">{body}</pre>')
    return "".join(blocks)


def wire_anchor(check_id: str, index: int) -> str:
    return f"{check_anchor(check_id)}-r{index}"

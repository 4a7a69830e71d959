"""Tools for the normative specification: render requirement text into ``spec/*.md`` and
check that the specification, the registry, the schemas and the rule tables agree.

``render`` owns the page format (requirement markers, generated tables), ``bcp14`` finds the
key words of BCP 14 in Markdown, and ``check`` runs the self-checks behind
``responses-ws spec check``. Every function takes the data root (the folder that holds
``spec/`` and ``schemas/``) as a parameter, so the checks can run on a broken copy.
"""

from __future__ import annotations

from conformance.spectools.check import CHECKS, CheckOutcome, Problem, run_checks
from conformance.spectools.render import render_pages, render_text, write_pages

__all__ = [
    "CHECKS",
    "CheckOutcome",
    "Problem",
    "render_pages",
    "render_text",
    "run_checks",
    "write_pages",
]

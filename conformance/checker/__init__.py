"""The sans-I/O transcript checker: verdicts per requirement, executed from ``schemas/rules/``.

``Checker(config).feed(record)`` for every record of a transcript, then ``.finish()`` for the
:class:`Report`. See :mod:`conformance.checker.core` for the driver contract and
``docs/transcripts.md`` for the transcript format.

Modules: ``rules`` (load and compile the rule tables), ``ordering`` and ``deltas`` (execute
them on one run), ``cache`` (the connection-cache model and predictions), ``run`` (one run's
per-event checks), ``connection`` (one connection, assembled from ``lanes`` - its state and
which request an answer belongs to -, ``limits``, ``outcomes``, ``client_messages``, ``runs``,
``steering``, ``error_events`` and ``closing``), ``model`` (what the checker recomputes of the
conformance model), ``findings`` (findings and the report).
"""

from __future__ import annotations

from conformance.checker.core import PROFILES, ROLES, Checker, CheckerConfig, EventValidator
from conformance.checker.findings import Finding, Report

__all__ = [
    "PROFILES",
    "ROLES",
    "Checker",
    "CheckerConfig",
    "EventValidator",
    "Finding",
    "Report",
]

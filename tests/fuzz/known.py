"""Findings of the fuzzer in the reference server and the checker that are not fixed yet.

Each entry is a regular expression of the failure message, tolerated by the ``ci`` runs so
that they keep finding *new* problems; each has a strict-xfail reproduction in
``test_findings.py``, which starts to XPASS (and so fails) once the finding is fixed: then
delete the entry and the xfail mark.
"""

from __future__ import annotations

__all__ = ["KNOWN_FINDINGS"]

KNOWN_FINDINGS: dict[str, str] = {}

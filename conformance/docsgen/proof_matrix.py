"""The proof matrix: every check shown able to fail, by name (``docs/data/proof-matrix.json``).

The matrix is the one source of the proof that each check can fail. A row names a check of
the server or the client suite, one of its own requirements, the reference server's fault
switch (``responses-ws serve --fault NAME``) or the scripted broken client that breaks it, the
model the suite requests, the verdict the requirement's level gives (FAILED for a MUST,
WARNING for a SHOULD) and a phrase of the evidence the check must report for it (its
finding). ``tests/suite/proof/`` runs every row; :func:`coverage` says which checks and MUST
requirements have none; :func:`proof_page` renders ``docs/proof.md`` for the site.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from conformance.docsgen._markdown import banner, cell, code
from conformance.requirements import Requirement

__all__ = [
    "MATRIX_PATH",
    "PROOF_PAGE",
    "Coverage",
    "ProofRow",
    "coverage",
    "load_matrix",
    "proof_page",
]

MATRIX_PATH = "data/proof-matrix.json"  # relative to docs/
PROOF_PAGE = "proof.md"
# The verdict a broken requirement of each level gives (MAY-only checks are INFORMATIONAL).
_WANTED = {"MUST": "FAILED", "MUST NOT": "FAILED", "SHOULD": "WARNING", "SHOULD NOT": "WARNING"}


class _Check(Protocol):
    """What the matrix needs of a check of either suite: its id and its own requirements."""

    @property
    def id(self) -> str: ...

    @property
    def requirements(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class ProofRow:
    """One proof: ``check`` concludes ``verdict`` on ``requirement`` through ``finding``."""

    suite: str  # "server" or "client"
    check: str  # a server check id, or a client scenario id
    requirement: str
    breaker: str  # the fault switch (server) or the broken client mode (client)
    model: str
    verdict: str  # FAILED or WARNING
    finding: str  # a phrase of the evidence's message
    setup: str = ""  # a named server setup other than the default (tests/suite/proof)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> ProofRow:
        """A row of the JSON file."""
        return cls(
            suite=str(raw["suite"]),
            check=str(raw["check"]),
            requirement=str(raw["requirement"]),
            breaker=str(raw.get("fault") or raw.get("peer")),
            model=str(raw["model"]),
            verdict=str(raw["verdict"]),
            finding=str(raw["finding"]),
            setup=str(raw.get("setup", "")),
        )


@dataclass(frozen=True)
class Matrix:
    """The whole file: rows, the checks that only record, what each breaker does."""

    rows: tuple[ProofRow, ...]
    # suite -> check -> why it reports INFORMATIONAL only (its requirements are MAY).
    informational: Mapping[str, Mapping[str, str]]
    # fault -> {"check", "requirement", "reason"}: not reachable with a model other than
    # conformance-1 (the check must say so).
    not_reached_with_any_model: Mapping[str, Mapping[str, str]]
    faults: Mapping[str, Mapping[str, str]]  # name -> {"requirement", "description"}
    peers: Mapping[str, str]  # broken client mode -> what it does wrong
    # {"checks": {check: why}, "requirements": {requirement: why}}: what no row proves yet.
    known_gaps: Mapping[str, Mapping[str, str]]


def load_matrix(docs: Path) -> Matrix:
    """Read ``docs/data/proof-matrix.json``."""
    raw = json.loads((docs / MATRIX_PATH).read_text(encoding="utf-8"))
    return Matrix(
        rows=tuple(ProofRow.of(row) for row in raw["rows"]),
        informational=raw["informational"],
        not_reached_with_any_model=raw["not_reached_with_any_model"],
        faults=raw["faults"],
        peers=raw["peers"],
        known_gaps=raw["known_gaps"],
    )


@dataclass(frozen=True)
class Coverage:
    """How much of each suite the matrix proves."""

    suite: str
    proven: tuple[str, ...]  # checks with a MUST or SHOULD that a row fails
    unproven: tuple[str, ...]  # checks with a MUST or SHOULD and no row (must be empty)
    informational: tuple[str, ...]  # MAY-only checks
    musts: int  # MUST requirements the suite's checks test
    musts_unproven: tuple[str, ...]  # of those, the ones no row fails (must be empty)

    def summary(self) -> str:
        """One line: the share of MUST/SHOULD checks and MUST requirements proven."""
        checks = len(self.proven) + len(self.unproven)
        share = 100 * len(self.proven) // max(checks, 1)
        proven_musts = self.musts - len(self.musts_unproven)
        return (
            f"{self.suite} suite: {len(self.proven)} of {checks} MUST/SHOULD checks proven "
            f"({share}%), {proven_musts} of {self.musts} MUST requirements failed by a row; "
            f"{len(self.informational)} informational check(s)"
        )


def _judged(check: _Check, requirements: Mapping[str, Requirement]) -> list[str]:
    return [r for r in check.requirements if r in requirements and requirements[r].level in _WANTED]


def coverage(
    suite: str,
    checks: Iterable[_Check],
    requirements: Mapping[str, Requirement],
    matrix: Matrix,
) -> Coverage:
    """Which checks of ``suite`` the matrix proves, by a row on one of their own MUST or
    SHOULD requirements with the verdict that requirement's level gives."""
    rows = [row for row in matrix.rows if row.suite == suite]
    failed = {
        (row.check, row.requirement)
        for row in rows
        if row.requirement in requirements
        and _WANTED.get(requirements[row.requirement].level) == row.verdict
    }
    proven: list[str] = []
    unproven: list[str] = []
    informational: list[str] = []
    musts: set[str] = set()
    for check in checks:
        judged = _judged(check, requirements)
        musts |= {r for r in judged if requirements[r].level.startswith("MUST")}
        if not judged:
            informational.append(check.id)
        elif any((check.id, r) in failed for r in judged):
            proven.append(check.id)
        else:
            unproven.append(check.id)
    caught = {requirement for _, requirement in failed}
    return Coverage(
        suite=suite,
        proven=tuple(proven),
        unproven=tuple(unproven),
        informational=tuple(informational),
        musts=len(musts),
        musts_unproven=tuple(sorted(musts - caught)),
    )


def _row_lines(rows: Sequence[ProofRow], what: str) -> list[str]:
    lines = [
        f"| Check | Requirement | {what} | Model | Expected | Finding |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r.check, r.requirement, r.breaker, r.model)):
        setup = f" (server {code(row.setup)})" if row.setup else ""
        lines.append(
            f"| {code(row.check)} | [{row.requirement}](requirements.md#{row.requirement.lower()})"
            f" | {code(row.breaker)}{setup} | {code(row.model)} | {row.verdict} | "
            f"{cell(row.finding)} |"
        )
    return lines


def proof_page(
    docs: Path,
    requirements: Mapping[str, Requirement],
    server_checks: Sequence[_Check],
    client_checks: Sequence[_Check],
) -> str:
    """The text of ``docs/proof.md``."""
    matrix = load_matrix(docs)
    server = coverage("server", server_checks, requirements, matrix)
    client = coverage("client", client_checks, requirements, matrix)
    lines = [
        banner(f"docs/{MATRIX_PATH}, conformance/scenarios/ and conformance/clientsuite/"),
        "",
        "# Proof: every check shown able to fail",
        "",
        "A check that has never failed proves nothing when it passes. Each row below is run by "
        "the project's tests: the reference server with one fault switch on "
        "(`responses-ws serve --fault NAME`; `--fault help` lists them) or a scripted broken "
        "client, the check named in the row, and the verdict it must reach on the row's "
        "requirement: FAILED for a MUST, WARNING for a SHOULD, through the finding quoted "
        "(a phrase of what the check reports). A requirement reported as not exercised, or "
        "blocked by another violation, never counts as a catch.",
        "",
        "## Coverage",
        "",
        f"* {server.summary()}.",
        f"* {client.summary()}.",
        "",
    ]
    gaps = [
        f"* {code(name)}: {why}"
        for kind in ("checks", "requirements")
        for name, why in sorted(matrix.known_gaps.get(kind, {}).items())
    ]
    if gaps:
        lines += ["Not proven yet:", "", *gaps, ""]
    lines += [
        "## Server suite",
        "",
        "Faults:",
        "",
        "| Fault | Breaks | What the server does |",
        "|---|---|---|",
    ]
    for name, fault in sorted(matrix.faults.items()):
        lines.append(f"| {code(name)} | {fault['requirement']} | {cell(fault['description'])} |")
    lines += ["", *_row_lines([r for r in matrix.rows if r.suite == "server"], "Fault"), ""]
    if matrix.not_reached_with_any_model:
        lines += [
            "Faults whose rule a model other than `conformance-1` cannot reach (the check "
            "says so instead of judging):",
            "",
        ]
        for name, why in sorted(matrix.not_reached_with_any_model.items()):
            lines.append(
                f"* {code(name)} ({code(why['check'])}, {why['requirement']}): {why['reason']}"
            )
        lines.append("")
    lines += [
        "## Client suite",
        "",
        "Broken clients (`tests/clientsuite/broken_clients/`):",
        "",
        "| Broken client | What it does wrong |",
        "|---|---|",
    ]
    for name, description in sorted(matrix.peers.items()):
        lines.append(f"| {code(name)} | {cell(description)} |")
    lines += ["", *_row_lines([r for r in matrix.rows if r.suite == "client"], "Broken client")]
    lines += [
        "",
        "## Checks that only record",
        "",
        "These checks test requirements the specification leaves open (MAY): they report "
        "what the server does as INFORMATIONAL data and never fail.",
        "",
    ]
    for suite, checks in sorted(matrix.informational.items()):
        for check, records in sorted(checks.items()):
            lines.append(f"* {suite}: {code(check)}: {records}")
    return "\n".join(lines) + "\n"

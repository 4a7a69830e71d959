"""Print the proof's coverage: ``python -m tests.suite.proof.coverage``.

The share of MUST/SHOULD checks of each suite that a row of the proof matrix fails, the MUST
requirements no row fails, and the checks that only record (MAY).
"""

from __future__ import annotations

from conformance.clientsuite.scenarios import SCENARIOS as CLIENT_SCENARIOS
from conformance.docsgen.proof_matrix import Coverage, coverage
from conformance.requirements import load_requirements
from conformance.scenarios import all_scenarios
from tests.suite.proof.matrix import matrix

__all__ = ["main", "suite_coverage"]


def suite_coverage() -> tuple[Coverage, Coverage]:
    """The coverage of the server and of the client suite."""
    requirements = load_requirements()
    proof = matrix()
    return (
        coverage("server", all_scenarios(), requirements, proof),
        coverage("client", CLIENT_SCENARIOS, requirements, proof),
    )


def main() -> None:
    """Print one line per suite, and what is missing."""
    for found in suite_coverage():
        print(found.summary())
        for check in found.unproven:
            print(f"  no proof: {check}")
        for requirement in found.musts_unproven:
            print(f"  no fault fails: {requirement}")


if __name__ == "__main__":
    main()

"""The README as a test: every command and code block of README.md runs as written.

The commands run in README order in this checkout, in one shell state (``. .venv/bin/activate``
and ``export KEY=...`` hold for every later command, as in a reader's shell), against the
reference servers the README's own ``responses-ws serve`` commands start. The one substitution
is the README's port ``8080``: the server command gets ``0`` (a free port) and every later
command and code block the port the server reports. The keys are the README's own: ``KEY``,
``KEY2`` and the suite's ``RWS_API_KEY*`` are removed from the environment the commands start
with, so a README that forgot to set one fails here as it would for a reader.
``XDG_STATE_HOME`` points into the test's temporary folder, so the servers' stores stay out of
the user's home. What the test does not run is listed in :data:`NOT_RUN`, each with why; a
README command that is neither run nor listed fails
:func:`test_every_readme_command_is_run_or_listed`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.readme.runner import Outcome, Plan, Runner, Snippet, extract, plan

__all__: list[str] = []

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
PORT = "8080"
# Variables the README sets itself, and the suite's own key variables that would stand in
# for a key the README forgot.
UNSET = ("KEY", "KEY2", "RWS_API_KEY", "RWS_API_KEY2")
SDK_SECTION = "Use the reference server with the official SDK"
REPORTS = ("report.json", "junit.xml", "report.html")

# The README's commands this test does not run, and why.
NOT_RUN: dict[str, str] = {
    "make test": "runs every test, lint and type check: this test is part of it",
    "pip install -e .": (
        "installs into the active environment, from the package index; make has already "
        "made that editable install in .venv, which every command run here uses"
    ),
    "responses-ws serve": (
        "names the command in the table of folders; it runs below as written there, "
        "`responses-ws serve --port 8080` (8080 is its default port)"
    ),
    "pip install openai": (
        "installs from the package index; the snippet runs with the Python of .venv-peers "
        "instead, whose openai peers-requirements.txt pins (the other way the README names)"
    ),
    "make client-conformance": (
        "installs the Codex CLI from npm and runs the client suite against four adapters, "
        "for minutes; tests/clientsuite/test_shipped_adapters.py runs that suite against "
        "each shipped adapter"
    ),
    "make serve-docs": (
        "serves the site until stopped; the strict build it serves is `make docs`, which runs"
    ),
    "make docs-generate": (
        "rewrites committed pages in the checkout; `make test` runs the same generation as "
        "`responses-ws docs generate --check` (docs-check), which fails on any difference"
    ),
    "make bench": (
        "half a minute of measurements on two cores; tests/bench/test_bench_quick.py runs the "
        "same `responses-ws bench --quick`"
    ),
}
# Commands the README names as what a make target runs (checked with `make -n`).
RECIPES: dict[str, str] = {
    "responses-ws bench --quick": "make bench",
    "responses-ws fuzz --spawn-reference --both": "make fuzz",
}


def readme_snippets() -> list[Snippet]:
    return extract(README.read_text(encoding="utf-8"))


def readme_plan() -> Plan:
    return plan(readme_snippets(), NOT_RUN, RECIPES)


def make_layout_or_skip() -> None:
    """The README's commands need the checkout as ``make`` leaves it: .venv, up to date."""
    if not (REPO_ROOT / ".venv" / "bin" / "responses-ws").exists():
        pytest.skip("no .venv/bin/responses-ws: run make first (the README's commands use it)")
    fresh = subprocess.run(
        ["make", "-q", ".venv/bin/.installed"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if fresh.returncode != 0:
        pytest.skip(
            "the .venv is older than pyproject.toml: each make command would reinstall it "
            "first (run make conformance once)"
        )


def runner(tmp_path: Path, python: str | None = None) -> Runner:
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return Runner(cwd=REPO_ROOT, env=env, port_placeholder=PORT, python=python, scratch=tmp_path)


def outcome_of(outcomes: list[Outcome], command_start: str) -> Outcome:
    return next(o for o in outcomes if o.snippet.text.startswith(command_start))


def test_every_readme_command_is_run_or_listed() -> None:
    """Each command and code block is run, or not run for a written reason; every listed
    reason still names a README command; the first set-up commands stay as they are."""
    snippets = readme_snippets()
    decided = readme_plan()
    assert len(decided.run) + len(decided.not_run) == len(snippets)
    assert all(reason.strip() for _snippet, reason in decided.not_run)
    blocks = [s.text for s in snippets if not s.inline]
    assert blocks[:2] == ["make conformance", "make test"]
    assert [s.kind for s in decided.run].count("python") == 1


def test_readme_recipes_are_what_make_runs() -> None:
    """The commands the README gives as what a make target runs are in its recipe."""
    for command, target in RECIPES.items():
        dry = subprocess.run(
            ["make", "-n", target.removeprefix("make ")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert f".venv/bin/{command}" in dry.stdout, (target, dry.stdout)


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    """Every shell command the README shows, in order, exits 0 (the python block runs in
    :func:`test_readme_sdk_snippet_runs_with_the_peers_python`)."""
    make_layout_or_skip()
    started = time.time()
    shell = runner(tmp_path)
    try:
        for snippet in readme_plan().run:
            if snippet.kind == "shell":
                shell.run(snippet)
    finally:
        shell.close()
    outcomes = shell.outcomes
    # What the README says the commands do.
    made = outcome_of(outcomes, "make conformance").output
    written = ", ".join(f"conformance-report/{name}" for name in REPORTS)
    assert f"reports: {written}" in made
    assert "Exit status 0" in made
    for name in REPORTS:
        assert (REPO_ROOT / "conformance-report" / name).stat().st_mtime >= started, name
    assert "Exit status 0" in outcome_of(outcomes, "responses-ws check").output
    # The check's report (it wrote conformance-report/ after make conformance): the second
    # key the README sets up lets RWS-LIMIT-5 be tested, not skipped or failed.
    report = json.loads((REPO_ROOT / "conformance-report" / "report.json").read_text("utf-8"))
    assert report["target"]["profiles"] == ["conformance-model", "core", "multiplex", "steering"]
    limit5 = {c["id"]: c["verdict"] for c in report["checks"]}["cache.other-api-key-not-found"]
    assert limit5 == "PASSED"
    assert " passed" in outcome_of(outcomes, "pytest --pyargs conformance").output
    assert "RWS-LIMIT-5" in outcome_of(outcomes, "responses-ws trace").output
    ran = [o.snippet.text for o in outcomes]
    assert ran.count(". .venv/bin/activate") == 2
    assert ran.count("export KEY=rws-key-1 KEY2=rws-key-2") == 2
    assert {"make docs", "make fuzz", "responses-ws serve --port 8080"} <= set(ran)


@pytest.mark.slow
@pytest.mark.peers
def test_readme_sdk_snippet_runs_with_the_peers_python(tmp_path: Path) -> None:
    """The SDK snippet, run with .venv-peers' Python against the server the README starts
    for it, streams the first turn and continues it with only the new input."""
    python = os.environ.get("RWS_PEERS_PYTHON")
    if not python:
        pytest.skip("RWS_PEERS_PYTHON is not set (make pytest sets it to .venv-peers' Python)")
    make_layout_or_skip()
    decided = readme_plan()
    sdk = [s for s in decided.run if s.section == SDK_SECTION]
    assert [s.kind for s in sdk] == ["shell", "python"]
    # The reader's shell at that point: the environment every earlier command set up.
    before = [
        s for s in decided.run if s.line < sdk[0].line and s.text.startswith((". ", "export "))
    ]
    assert before
    reader = runner(tmp_path, python=python)
    try:
        for snippet in [*before, *sdk]:
            reader.run(snippet)
    finally:
        reader.close()
    output = reader.outcomes[-1].output
    assert "context items=3 digest=" in output
    assert output.count("  [resp_") == 2

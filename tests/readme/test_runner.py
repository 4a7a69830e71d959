"""The README runner on small synthetic READMEs: what it extracts, what it runs, and that a
broken command, code block or decision fails it (so the README test fails when the README
breaks)."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from tests.readme.runner import CommandFailedError, PlanError, Runner, Snippet, extract, plan

__all__: list[str] = []

FENCE = "```"

DEMO = textwrap.dedent(
    f"""\
    # Demo

    Intro: `make demo` builds it; `demo-tool --flag` is no command word, `x` no command.

    ## Set up

    {FENCE}sh
    export GREETING=hello   # a comment
    test "$GREETING" = hello && echo "ok # not a comment" \\
        continued
    {FENCE}

    ## Use

    | Target | What |
    |---|---|
    | `make demo` | again, inline |

    {FENCE}python
    print("port 8080")
    {FENCE}

    {FENCE}json
    {{"a": 1}}
    {FENCE}
    """
)


def runner(tmp_path: Path, python: str | None = None) -> Runner:
    return Runner(cwd=tmp_path, env=dict(os.environ), python=python, timeout=60.0)


def run_all(runner_: Runner, markdown: str) -> None:
    try:
        for snippet in extract(markdown):
            runner_.run(snippet)
    finally:
        runner_.close()


def fake_server(tmp_path: Path, *, listens: bool = True) -> Path:
    """A ``responses-ws`` that, for ``serve``, listens on a free port and says so (or exits
    at once without listening)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "responses-ws"
    body = (
        "import socket\n"
        "server = socket.socket()\n"
        "server.bind(('127.0.0.1', 0))\n"
        "server.listen()\n"
        "print(f'listening on ws://127.0.0.1:{server.getsockname()[1]}/v1/responses', "
        "flush=True)\n"
        "while True:\n"
        "    server.accept()[0].close()\n"
        if listens
        else "raise SystemExit('address already in use')\n"
    )
    script.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def connect_command(port: str = "8080") -> str:
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), 5).close()"
    return f'{sys.executable} -c "{code}"'


class TestExtract:
    def test_finds_block_commands_python_blocks_inline_commands_and_other_blocks(self) -> None:
        snippets = extract(DEMO)
        assert [(s.kind, s.inline, s.text.splitlines()[0]) for s in snippets] == [
            ("shell", True, "make demo"),
            ("shell", False, "export GREETING=hello"),
            ("shell", False, 'test "$GREETING" = hello && echo "ok # not a comment" continued'),
            ("shell", True, "make demo"),
            ("python", False, 'print("port 8080")'),
            ("other", False, '{"a": 1}'),
        ]
        assert [s.section for s in snippets] == ["Demo", "Set up", "Set up", "Use", "Use", "Use"]
        assert [s.line for s in snippets] == [3, 8, 9, 17, 20, 24]
        assert snippets[-1].language == "json"

    def test_an_unclosed_fence_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="never closed"):
            extract(f"# T\n\n{FENCE}sh\nmake demo\n")


class TestRunner:
    def test_a_failing_command_fails_with_its_line_status_and_output(self, tmp_path: Path) -> None:
        markdown = f"# T\n\n{FENCE}sh\necho fine\necho before && exit 3\necho never\n{FENCE}\n"
        shell = runner(tmp_path)
        with pytest.raises(CommandFailedError) as failed:
            run_all(shell, markdown)
        assert failed.value.snippet.line == 5
        assert failed.value.returncode == 3
        message = str(failed.value)
        assert "README line 5 (T)" in message
        assert "exited 3" in message
        assert "before" in message
        assert [o.command for o in shell.outcomes] == ["echo fine"]

    def test_shell_state_holds_for_every_later_command(self, tmp_path: Path) -> None:
        (tmp_path / "sub").mkdir()
        markdown = (
            f"# T\n\n{FENCE}sh\nexport GREETING=hello\ncd sub\n{FENCE}\n\n"
            f'Then `make --version`.\n\n{FENCE}sh\ntest "$GREETING" = hello && pwd\n{FENCE}\n'
        )
        shell = runner(tmp_path)
        run_all(shell, markdown)
        assert shell.prelude == ["export GREETING=hello", "cd sub"]
        assert shell.outcomes[-1].output.strip() == str(tmp_path / "sub")

    def test_a_shell_state_command_that_fails_fails_at_its_own_line(self, tmp_path: Path) -> None:
        markdown = f"# T\n\n{FENCE}sh\n. missing/bin/activate\necho after\n{FENCE}\n"
        with pytest.raises(CommandFailedError) as failed:
            run_all(runner(tmp_path), markdown)
        assert failed.value.snippet.text == ". missing/bin/activate"

    def test_a_python_block_that_raises_fails(self, tmp_path: Path) -> None:
        markdown = f"# T\n\n{FENCE}python\nraise SystemExit('broken snippet')\n{FENCE}\n"
        with pytest.raises(CommandFailedError, match="broken snippet"):
            run_all(runner(tmp_path, python=sys.executable), markdown)

    def test_the_port_before_any_server_is_a_failure(self, tmp_path: Path) -> None:
        markdown = f"# T\n\n{FENCE}sh\n{connect_command()}\n{FENCE}\n"
        with pytest.raises(CommandFailedError, match="before any `responses-ws serve` started"):
            run_all(runner(tmp_path), markdown)

    def test_a_server_gets_a_free_port_that_later_commands_and_blocks_use(
        self, tmp_path: Path
    ) -> None:
        folder = fake_server(tmp_path)
        markdown = (
            f'# T\n\n{FENCE}sh\nexport PATH="{folder}:$PATH"\n'
            f"responses-ws serve --port 8080\n{connect_command()}\n{FENCE}\n\n"
            f"{FENCE}python\nprint('connecting to', 8080)\n{FENCE}\n"
        )
        shell = runner(tmp_path, python=sys.executable)
        run_all(shell, markdown)
        assert shell.port is not None
        assert shell.port != "8080"
        serve, connect, python = shell.outcomes[1:]
        assert serve.command == "responses-ws serve --port 0"
        assert connect.command == connect_command(shell.port)
        assert python.output.strip() == f"connecting to {shell.port}"
        assert shell.servers == []  # close() stopped it

    def test_a_server_that_does_not_start_fails(self, tmp_path: Path) -> None:
        folder = fake_server(tmp_path, listens=False)
        markdown = (
            f'# T\n\n{FENCE}sh\nexport PATH="{folder}:$PATH"\n'
            f"responses-ws serve --port 8080\n{FENCE}\n"
        )
        with pytest.raises(CommandFailedError, match="address already in use"):
            run_all(runner(tmp_path), markdown)

    def test_an_other_block_is_no_command(self, tmp_path: Path) -> None:
        (other,) = extract(f"# T\n\n{FENCE}json\n{{}}\n{FENCE}\n")
        with pytest.raises(ValueError, match="a json block is no command"):
            runner(tmp_path).run(other)


class TestPlan:
    def snippets(self) -> list[Snippet]:
        return extract(DEMO)

    def test_inline_mentions_of_block_commands_and_listed_commands_are_not_run(self) -> None:
        markdown = f"# T\n\nRun `make a` and `make b`.\n\n{FENCE}sh\nmake a\nmake c\n{FENCE}\n"
        decided = plan(extract(markdown), {"make b": "takes an hour"})
        assert [s.text for s in decided.run] == ["make a", "make c"]
        assert [(s.text, reason) for s, reason in decided.not_run] == [
            ("make a", "an inline mention of a command a block shows; runs there"),
            ("make b", "takes an hour"),
        ]

    def test_a_recipe_follows_its_target(self) -> None:
        markdown = "# T\n\n`make x` (`pytest x --all`), `make y` (`pytest y`)\n"
        decided = plan(
            extract(markdown),
            {"make y": "slow"},
            {"pytest x --all": "make x", "pytest y": "make y"},
        )
        assert [s.text for s in decided.run] == ["make x"]
        reasons = {s.text: reason for s, reason in decided.not_run}
        assert reasons == {
            "make y": "slow",
            "pytest x --all": "the recipe of `make x` (runs there)",
            "pytest y": "the recipe of `make y` (not run: slow)",
        }

    def test_an_unlisted_other_block_fails_the_plan(self) -> None:
        with pytest.raises(PlanError, match="a json block: run or list it"):
            plan(self.snippets(), {})

    def test_a_reason_for_a_command_the_readme_lacks_fails_the_plan(self) -> None:
        other = next(s.text for s in self.snippets() if s.kind == "other")
        with pytest.raises(PlanError, match="make gone"):
            plan(self.snippets(), {other: "data", "make gone": "was slow"})

    def test_a_recipe_of_a_target_the_readme_lacks_fails_the_plan(self) -> None:
        other = next(s.text for s in self.snippets() if s.kind == "other")
        with pytest.raises(PlanError, match="which the README lacks"):
            plan(self.snippets(), {other: "data"}, {"make demo": "make other"})

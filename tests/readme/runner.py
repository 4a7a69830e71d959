"""Run a README as written: extract its commands and code blocks, run them in order.

:func:`extract` finds what a reader would run: every line (continuations joined) of a fenced
``sh`` block, every ``python`` block, and every inline code span that starts with a command
(``make test``, ``responses-ws trace --report ...``), each with its line and section. Other
fenced blocks are returned too, as ``other``, so that nothing runnable can hide in them.

:class:`Runner` runs them the way a reader's shell would, in one checkout and environment:

* ``. FILE``, ``source FILE``, ``export ...`` and ``cd ...`` change the shell itself, so they
  are checked once and then prefixed to every later command (``. .venv/bin/activate`` holds
  for the rest of the README);
* a ``responses-ws serve`` command is a server: it runs in the background until
  :meth:`Runner.close`, on a free port put in place of the README's port, which every later
  command and code block gets in its place too;
* any other command runs to completion and must exit 0;
* a ``python`` block runs as a file with the interpreter the caller names.

The only substitution is the README's port placeholder (a server port must be free); the
README's other placeholders (``$KEY``) are environment variables the caller sets. A failure
raises :class:`CommandFailedError` with the command, its line, exit status and output.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from conformance.harness.spawn import SpawnError, drain_output, read_listening_url

__all__ = [
    "COMMAND_WORDS",
    "CommandFailedError",
    "Outcome",
    "Plan",
    "PlanError",
    "Runner",
    "Snippet",
    "extract",
    "plan",
]

# An inline code span is a command when its first word is one of these (or a path to one).
COMMAND_WORDS = frozenset({"make", "responses-ws", "pytest", "pip", "python", "python3", "."})
_SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
_SHELL_STATE = re.compile(r"^(\.|source|export|cd)\s")
_SERVE = re.compile(r"(^|\s)responses-ws\s+serve(\s|$)")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_HEADING = re.compile(r"^#{1,6}\s+(.*)")
_OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class Snippet:
    """One command (``shell``), code block (``python``) or other fenced block of a README."""

    kind: Literal["shell", "python", "other"]
    text: str
    line: int  # 1-based line of the README where it starts
    section: str  # the heading it is under ("" before the first)
    inline: bool = False
    language: str = ""

    @property
    def where(self) -> str:
        """``README line N (section)``, for messages."""
        return f"README line {self.line} ({self.section or 'top'})"


@dataclass(frozen=True)
class Outcome:
    """What running a snippet did."""

    snippet: Snippet
    command: str  # what ran, after the port substitution
    returncode: int
    output: str


class CommandFailedError(AssertionError):
    """A README command or code block failed as written."""

    def __init__(
        self,
        snippet: Snippet,
        command: str,
        returncode: int | None,
        output: str,
        status: str | None = None,
    ) -> None:
        if status is None:
            status = "could not run" if returncode is None else f"exited {returncode}"
        tail = output[-_OUTPUT_TAIL:]
        super().__init__(f"{snippet.where}: {command!r} {status}:\n{tail}")
        self.snippet = snippet
        self.returncode = returncode
        self.output = output


def _strip_comment(line: str) -> str:
    """``line`` without a trailing shell comment (a ``#`` after a blank, outside quotes)."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def _commands(block: list[str], first_line: int, section: str, language: str) -> list[Snippet]:
    """The commands of a shell block: one per logical line, comments and blanks dropped."""
    out: list[Snippet] = []
    pending: list[str] = []
    start = first_line
    for offset, line in enumerate(block):
        if not pending:
            start = first_line + offset
        text = _strip_comment(line) if not line.rstrip().endswith("\\") else line.rstrip()
        if text.endswith("\\"):
            pending.append(text[:-1].strip())
            continue
        pending.append(text.strip())
        command = " ".join(part for part in pending if part)
        pending = []
        if command:
            out.append(Snippet("shell", command, start, section, language=language))
    if pending:
        command = " ".join(part for part in pending if part)
        out.append(Snippet("shell", command, start, section, language=language))
    return out


def _is_command(span: str) -> bool:
    first = span.split(maxsplit=1)[0] if span.strip() else ""
    name = first.rsplit("/", 1)[-1]
    return len(span.split()) > 1 and (first in COMMAND_WORDS or name in COMMAND_WORDS)


def extract(markdown: str) -> list[Snippet]:
    """Every command and code block of ``markdown``, in reading order."""
    snippets: list[Snippet] = []
    section = ""
    fence: str | None = None
    language = ""
    block: list[str] = []
    block_start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                if language in _SHELL_LANGUAGES:
                    snippets.extend(_commands(block, block_start, section, language))
                elif language == "python":
                    code = "\n".join(block) + "\n"
                    snippets.append(
                        Snippet("python", code, block_start, section, language=language)
                    )
                else:
                    text = "\n".join(block)
                    snippets.append(Snippet("other", text, block_start, section, language=language))
                fence = None
            else:
                block.append(line)
            continue
        opening = _FENCE.match(line)
        if opening:
            fence, language, block, block_start = opening.group(2), opening.group(3), [], number + 1
            continue
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(1).strip()
            continue
        for match in _INLINE.finditer(line):
            span = match.group(1).strip()
            if _is_command(span):
                snippets.append(Snippet("shell", span, number, section, inline=True))
    if fence is not None:
        raise ValueError(f"README line {block_start - 1}: a fenced block is never closed")
    return snippets


class PlanError(AssertionError):
    """A README command has no decision, or a decision names no README command."""


@dataclass(frozen=True)
class Plan:
    """Every snippet of a README, each either run or not run with the reason."""

    run: tuple[Snippet, ...]
    not_run: tuple[tuple[Snippet, str], ...]


def plan(
    snippets: list[Snippet],
    not_run: Mapping[str, str],
    recipes: Mapping[str, str] | None = None,
) -> Plan:
    """Decide for each snippet: run it, unless

    * it is an inline mention of a command that a fenced block shows (it runs there);
    * ``not_run`` lists its text, with the reason;
    * it is the recipe of a make target (``recipes``: command -> target) that the README
      shows too: it runs, or is not run, with that target.

    Raises :class:`PlanError` for a block that is neither shell nor python and is not listed,
    and for a ``not_run`` or ``recipes`` entry that names nothing in the README (a stale
    reason must not outlive its command).
    """
    recipes = recipes or {}
    in_blocks = {s.text for s in snippets if s.kind == "shell" and not s.inline}
    texts = {s.text for s in snippets}
    stale = sorted(set(not_run) - texts) + sorted(set(recipes) - texts)
    if stale:
        raise PlanError(f"listed as not run, but not in the README: {stale}")
    for command, target in recipes.items():
        if target not in texts:
            raise PlanError(f"{command!r} is the recipe of {target!r}, which the README lacks")
    run: list[Snippet] = []
    skipped: list[tuple[Snippet, str]] = []
    for snippet in snippets:
        text = snippet.text
        if snippet.inline and text in in_blocks:
            skipped.append((snippet, "an inline mention of a command a block shows; runs there"))
        elif text in not_run:
            skipped.append((snippet, not_run[text]))
        elif text in recipes:
            target = recipes[text]
            how = f"not run: {not_run[target]}" if target in not_run else "runs there"
            skipped.append((snippet, f"the recipe of `{target}` ({how})"))
        elif snippet.kind == "other":
            raise PlanError(
                f"{snippet.where}: a {snippet.language or 'plain'} block: run or list it"
            )
        else:
            run.append(snippet)
    return Plan(tuple(run), tuple(skipped))


@dataclass
class Runner:
    """Runs snippets in order, in ``cwd`` with ``env``; see the module docstring."""

    cwd: Path
    env: Mapping[str, str]
    port_placeholder: str = "8080"
    python: str | None = None  # the interpreter of python blocks
    scratch: Path | None = None  # where python blocks are written (default: cwd)
    timeout: float = 300.0
    startup_timeout: float = 30.0
    prelude: list[str] = field(default_factory=list)
    port: str | None = None
    servers: list[subprocess.Popen[str]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def _substitute(self, text: str) -> str:
        placeholder = re.compile(rf"(?<![\w.]){re.escape(self.port_placeholder)}(?!\w)")
        if self.port is None and placeholder.search(text):
            raise ValueError(
                f"uses the port {self.port_placeholder} before any `responses-ws serve` started"
            )
        return placeholder.sub(self.port or self.port_placeholder, text)

    def _script(self, command: str) -> str:
        return "\n".join(["set -e", *self.prelude, command])

    def run(self, snippet: Snippet) -> Outcome:
        """Run one snippet; raise :class:`CommandFailedError` when it fails."""
        if snippet.kind == "python":
            return self._run_python(snippet)
        if snippet.kind != "shell":
            raise ValueError(
                f"{snippet.where}: a {snippet.language or 'plain'} block is no command"
            )
        if _SHELL_STATE.match(snippet.text):
            outcome = self._complete(
                snippet, snippet.text, ["bash", "-c", self._script(snippet.text)]
            )
            self.prelude.append(snippet.text)
            return outcome
        if _SERVE.search(snippet.text):
            return self._serve(snippet)
        try:
            command = self._substitute(snippet.text)
        except ValueError as exc:
            raise CommandFailedError(snippet, snippet.text, None, str(exc)) from exc
        return self._complete(snippet, command, ["bash", "-c", self._script(command)])

    def _complete(self, snippet: Snippet, command: str, argv: list[str]) -> Outcome:
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=dict(self.env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output if isinstance(exc.output, str) else ""
            status = f"did not finish within {self.timeout:g} s"
            raise CommandFailedError(snippet, command, None, output, status) from exc
        if done.returncode != 0:
            raise CommandFailedError(snippet, command, done.returncode, done.stdout)
        outcome = Outcome(snippet, command, done.returncode, done.stdout)
        self.outcomes.append(outcome)
        return outcome

    def _serve(self, snippet: Snippet) -> Outcome:
        """Start a server on a free port (the README's port becomes ``0``) and learn it."""
        placeholder = re.compile(rf"(?<![\w.]){re.escape(self.port_placeholder)}(?!\w)")
        if not placeholder.search(snippet.text):
            raise CommandFailedError(
                snippet,
                snippet.text,
                None,
                f"a server command without the port {self.port_placeholder}",
            )
        command = placeholder.sub("0", snippet.text)
        process = subprocess.Popen(
            ["bash", "-c", self._script(f"exec {command}")],
            cwd=self.cwd,
            env=dict(self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.servers.append(process)
        try:
            url = read_listening_url(process, self.startup_timeout)
        except SpawnError as exc:
            status = f"did not say `listening on ...` (exit status {process.poll()})"
            raise CommandFailedError(snippet, command, None, str(exc), status) from exc
        threading.Thread(target=drain_output, args=(process,), daemon=True).start()
        match = re.search(r":(\d+)(/|$)", url)
        assert match is not None, url
        self.port = match.group(1)
        outcome = Outcome(snippet, command, 0, f"listening on {url}")
        self.outcomes.append(outcome)
        return outcome

    def _run_python(self, snippet: Snippet) -> Outcome:
        if self.python is None:
            raise ValueError(f"{snippet.where}: no interpreter for python blocks")
        try:
            code = self._substitute(snippet.text)
        except ValueError as exc:
            raise CommandFailedError(snippet, "python block", None, str(exc)) from exc
        folder = self.scratch or self.cwd
        path = folder / f"readme_line_{snippet.line}.py"
        path.write_text(code, encoding="utf-8")
        return self._complete(snippet, f"{self.python} {path.name}", [self.python, str(path)])

    def close(self) -> None:
        """Stop every server this runner started."""
        for process in self.servers:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.servers.clear()

"""Client adapter: Codex CLI (npm ``@openai/codex``) - ``codex exec`` over WebSocket mode.

Codex is a native program; this adapter only configures and drives it. It writes a private
``CODEX_HOME/config.toml`` whose model provider points at the scenario's server
(``base_url = "http://HOST:PORT/v1"``, ``wire_api = "responses"``,
``supports_websockets = true``, the key in an ``env_key`` variable), and runs each prompt as
one non-interactive ``codex exec --json`` turn: the first prompt starts a session, every later
one continues it with ``codex exec resume <session id>``. Connection handling, the warm-up
request, continuation, reconnection, retries and the fallback to HTTP are all Codex's; the
final text is the last ``agent_message`` of the turn's ``--json`` events.

The configuration keeps Codex from waiting for a person and from reaching anything but the
scenario's server: ``approval_policy = "never"``, a read-only sandbox in an empty working
folder, no update check, no analytics. ``include_environment_context = false`` drops the
``<environment_context>`` user message Codex adds to each session, so that the prompts are the
only user messages of the conversation, as the contract's expected answers assume (the scripted
model counts user messages). Nothing else is changed: Codex's system prompt, tools and request
fields are its own.

What Codex cannot be asked to do is reported as not applicable (exit status 3, the check is
SKIPPED with the reason): named lanes (it runs one turn at a time on the default lane),
``store: true`` (it sends ``store: false`` to every provider but Azure), continuing a given
history from a response id (``codex exec resume`` continues only sessions Codex recorded
itself), and the contract's ``lookup`` function tool (Codex's tools are built in, and an MCP
server's tools are offered inside a ``namespace`` tool, so the scripted model's plain
``lookup`` call is answered ``unsupported call: lookup``; the adapter detects that answer).

The Codex executable is ``RWS_CODEX`` or, by default, the one ``make peers`` installs into
``.peers-codex/`` of this checkout. Standard library only.

Run: ``python -m conformance.adapters.codex_cli`` from the repository root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conformance.adapters._contract import (
    EXIT_FAILED,
    EXIT_UNSUPPORTED,
    Task,
    http_base_url,
    print_result,
    read_task,
)

__all__ = [
    "KEY_VARIABLE",
    "Turn",
    "called_missing_tool",
    "codex_executable",
    "config_toml",
    "main",
    "parse_events",
    "run_turn",
    "unsupported_reason",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
# The variable Codex reads the key from (the provider's env_key).
KEY_VARIABLE = "RWS_CODEX_API_KEY"
PROVIDER = "responses-ws"


def codex_executable() -> Path | None:
    """``RWS_CODEX``, else ``.peers-codex/node_modules/.bin/codex`` of the checkout."""
    configured = os.environ.get("RWS_CODEX")
    candidate = (
        Path(configured)
        if configured
        else REPO_ROOT / ".peers-codex" / "node_modules" / ".bin" / "codex"
    )
    return candidate if candidate.exists() else None


def _toml_string(value: str) -> str:
    # A TOML basic string is a JSON string for everything these values hold.
    return json.dumps(value)


def config_toml(base_url: str, model: str) -> str:
    """Codex's ``config.toml`` for a model provider at ``base_url`` (``http://HOST:PORT/v1``)."""
    return "\n".join(
        [
            f"model = {_toml_string(model)}",
            f"model_provider = {_toml_string(PROVIDER)}",
            'approval_policy = "never"',
            'sandbox_mode = "read-only"',
            "include_environment_context = false",
            "check_for_update_on_startup = false",
            "",
            "[analytics]",
            "enabled = false",
            "",
            f"[model_providers.{_toml_string(PROVIDER)}]",
            'name = "responses-ws client suite"',
            f"base_url = {_toml_string(base_url)}",
            'wire_api = "responses"',
            f"env_key = {_toml_string(KEY_VARIABLE)}",
            "supports_websockets = true",
            "",
        ]
    )


def unsupported_reason(task: Task) -> str | None:
    """Why Codex cannot attempt this task at all, or None."""
    if task.task != "conversation":
        return f"unsupported task {task.task}: Codex runs one turn at a time, without lanes"
    if task.store:
        return "Codex sends store: false in every request (store: true only for Azure)"
    if task.history or task.previous_response_id:
        return (
            "Codex cannot continue a given history or response id: codex exec resume "
            "continues only sessions Codex recorded itself"
        )
    return None


@dataclass
class Turn:
    """What one ``codex exec`` run printed and how it ended."""

    returncode: int
    session_id: str | None = None
    messages: list[str] = field(default_factory=list)
    # turn.failed: the turn's outcome; error events: notices such as "Reconnecting... 2/5".
    failures: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    turn_completed: bool = False
    stderr: str = ""

    @property
    def completed(self) -> bool:
        """Codex finished the turn with an answer."""
        ok = self.returncode == 0 and self.turn_completed and not self.failures
        return ok and bool(self.messages)


def parse_events(stdout: str, turn: Turn) -> None:
    """Read ``codex exec --json`` events (one JSON object a line) into ``turn``."""
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "thread.started":
            turn.session_id = str(event.get("thread_id"))
        elif kind == "item.completed":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "agent_message":
                turn.messages.append(str(item.get("text", "")))
        elif kind == "turn.completed":
            turn.turn_completed = True
        elif kind == "turn.failed":
            error = event.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            turn.failures.append(f"turn failed: {message}")
        elif kind == "error":
            turn.notices.append(str(event.get("message")))


def called_missing_tool(home: Path, tool: str) -> bool:
    """Whether the model called ``tool`` and Codex answered that it has no such tool.

    Read from the session files Codex records under ``CODEX_HOME/sessions`` (one JSON object a
    line; ``response_item`` lines hold the items of the conversation).
    """
    calls: set[str] = set()
    refused: set[str] = set()
    for path in sorted((home / "sessions").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            item = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(item, dict) or record.get("type") != "response_item":
                continue
            if item.get("type") == "function_call" and item.get("name") == tool:
                calls.add(str(item.get("call_id")))
            elif item.get("type") == "function_call_output" and str(
                item.get("output", "")
            ).startswith("unsupported call"):
                refused.add(str(item.get("call_id")))
    return bool(calls & refused)


def run_turn(
    codex: Path, home: Path, workdir: Path, task: Task, prompt: str, session: str | None
) -> Turn:
    """One prompt as one ``codex exec`` process (a resumed session after the first)."""
    args = [str(codex), "exec", "--json", "--skip-git-repo-check", "--cd", str(workdir)]
    if session is not None:
        args += ["resume", "--", session, prompt]
    else:
        args += ["--", prompt]
    env = {**os.environ, "CODEX_HOME": str(home), KEY_VARIABLE: task.api_key}
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"):
        env.pop(variable, None)
    done = subprocess.run(
        args,
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    turn = Turn(done.returncode, session, stderr=done.stderr)
    parse_events(done.stdout, turn)
    return turn


def main() -> int:
    """Run the scenario's task; print the result; return the exit status."""
    task = read_task()
    reason = unsupported_reason(task)
    if reason is not None:
        print(reason, file=sys.stderr)
        return EXIT_UNSUPPORTED
    codex = codex_executable()
    if codex is None:
        print("Codex CLI is not installed (run make peers, or set RWS_CODEX)", file=sys.stderr)
        return EXIT_UNSUPPORTED
    with tempfile.TemporaryDirectory(prefix="rws-codex-") as scratch:
        home = Path(scratch) / "codex-home"
        workdir = Path(scratch) / "work"
        home.mkdir()
        workdir.mkdir()
        (home / "config.toml").write_text(
            config_toml(http_base_url(task.url), task.model), encoding="utf-8"
        )
        session: str | None = None
        text = ""
        for number, prompt in enumerate(task.prompts, start=1):
            turn = run_turn(codex, home, workdir, task, prompt, session)
            sys.stderr.write(turn.stderr)
            for notice in turn.notices:
                print(f"codex-cli: prompt {number}: {notice}", file=sys.stderr)
            if called_missing_tool(home, task.tool):
                print(
                    f"Codex has no function tool {task.tool!r} (its tools are built in; MCP tools "
                    f"come inside a namespace tool): it answered the model's {task.tool} call "
                    f"with 'unsupported call: {task.tool}'",
                    file=sys.stderr,
                )
                return EXIT_UNSUPPORTED
            if not turn.completed:
                problems = "; ".join(turn.failures) or "no completed turn with an answer"
                print(
                    f"codex-cli: prompt {number}: codex exec exited with {turn.returncode}: "
                    f"{problems}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            session = turn.session_id
            text = turn.messages[-1]
    print_result([text], lanes=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

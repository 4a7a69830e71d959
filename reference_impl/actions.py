"""What the sans-I/O session asks its I/O layer to do: actions and run steps.

:meth:`Session.actions` returns :data:`Action` values for the connection as a whole;
:meth:`Session.step` returns one :data:`RunStep` for the run task that called it. Both are
frozen dataclasses; the I/O layer matches on them and does nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_impl.store import StoredResponse

__all__ = [
    "Action",
    "CloseConnection",
    "LoadStored",
    "Persist",
    "RunDone",
    "RunStep",
    "SendText",
    "StartRun",
    "Wait",
]


# --- actions: what the I/O layer must do --------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendText:
    """Send one text message."""

    text: str


@dataclass(frozen=True, slots=True)
class StartRun:
    """Start a task that drives run ``run_id`` with :meth:`Session.step`."""

    run_id: int


@dataclass(frozen=True, slots=True)
class LoadStored:
    """Look up a stored response; answer with :meth:`Session.stored_loaded`.

    ``api_key`` None means any key (the ``cross-key`` fault).
    """

    ticket: int
    response_id: str
    api_key: str | None


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Send what is pending, then close the connection with ``code``."""

    code: int
    reason: str = ""


Action = SendText | StartRun | LoadStored | CloseConnection


# --- run steps: what a run task must do next ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep ``seconds``, then call :meth:`Session.step` again."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Persist:
    """Save ``record`` for ``api_key`` durably, then call :meth:`Session.step` again."""

    record: StoredResponse
    api_key: str


@dataclass(frozen=True, slots=True)
class RunDone:
    """The run has sent its last event; the task ends."""


RunStep = Wait | Persist | RunDone

"""Storage faults fail one run only (issue 18): the store, and the session when saving fails.

A database another process keeps locked makes :meth:`ResponseStore.save` raise after its
bounded busy wait, without holding any lock of the server's while it waits; the session then
ends that one run ``response.failed`` (``server_error``) and leaves its connection, its other
runs and its cache alone. The data directory and database are readable by their owner only.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from reference_impl.store import DATABASE_NAME, ResponseStore, StoredResponse
from tests.reference_impl.driver import Driver, create, of_lane, terminal

__all__: list[str] = []


def _record(response_id: str = "resp_x") -> StoredResponse:
    return StoredResponse(
        response_id, [{"type": "message", "role": "user", "content": "hi"}], [], {}
    )


def _locked(tmp_path: Path) -> sqlite3.Connection:
    """Another process's connection holding the database's write lock."""
    other = sqlite3.connect(tmp_path / DATABASE_NAME, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_data_directory_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = ResponseStore(data)
    store.save(_record(), "key")
    store.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_database_that_stays_locked_fails_the_save(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, busy_timeout=0.05)
    other = _locked(tmp_path)
    with pytest.raises(sqlite3.OperationalError):
        store.save(_record(), "key")
    other.execute("ROLLBACK")
    store.save(_record(), "key")  # the lock is gone: the store works again
    assert store.load("resp_x", "key") is not None


def test_no_lock_of_the_server_is_held_while_sqlite_waits(tmp_path: Path) -> None:
    """A save waiting for another process's lock does not stop a lookup: with a lock held
    across the wait, the lookup would wait for the save, which would time out (the other
    process releases only after the lookup returned) and fail."""
    store = ResponseStore(tmp_path, busy_timeout=30.0)
    store.save(_record("resp_before"), "key")
    other = _locked(tmp_path)
    outcome: list[Any] = []

    def save() -> None:
        try:
            store.save(_record("resp_during"), "key")
            outcome.append("saved")
        except sqlite3.Error as exc:  # pragma: no cover - the failure this test guards
            outcome.append(exc)

    saver = threading.Thread(target=save)
    saver.start()
    assert store.load("resp_before", "key") is not None
    other.execute("ROLLBACK")
    saver.join()
    assert outcome == ["saved"]
    assert store.load("resp_during", "key") is not None


class _LockedStore(ResponseStore):
    """A store whose saves fail as a locked database does."""

    def save(self, record: StoredResponse, api_key: str) -> None:
        raise sqlite3.OperationalError("database is locked")


def test_a_failed_save_fails_that_run_only() -> None:
    driver = Driver(store=_LockedStore(None))
    # A cached store:false response on lane b, a store:false run on lane a beside the stored
    # run on lane c, whose save fails.
    first = driver.turn(create("rws:text length=4", stream_id="b", store=False))
    cached = terminal(first)["response"]["id"]
    driver.send(create("rws:delay ms=5\nrws:text length=12 chunks=3", stream_id="a", store=False))
    driver.send(create("rws:text length=8", stream_id="c", store=True))
    events = driver.settle()
    stored = terminal(list(of_lane(events, "c")))
    assert stored["type"] == "response.failed"
    assert stored["response"]["error"]["code"] == "server_error"
    assert terminal(list(of_lane(events, "a")))["type"] == "response.completed"
    assert driver.closed is None
    # The cache is untouched: lane b's entry still continues.
    after = driver.turn(
        create("rws:text length=2", stream_id="b", previous_response_id=cached, store=False)
    )
    assert terminal(after)["type"] == "response.completed"

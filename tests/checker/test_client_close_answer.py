"""A recording of both sides holds the server's answer to the client's close: no reconnection
rule reads that answer as the server closing the connection (RWS-ERR-7, RWS-ERR-9)."""

from __future__ import annotations

from conformance.checker import CheckerConfig
from conformance.checker.client import check_client_traffic
from tests.checker.synth import Message, Transcript, run_events


def test_new_connection_after_the_clients_own_close_is_no_reconnection() -> None:
    t = Transcript().open("c1").create("c1").recv(*run_events([Message("Hi.")]), conn="c1")
    t.close("c1", direction="c2s", code=1000).close("c1", direction="s2c", code=1000)
    t.open("c2").create("c2").recv(*run_events([Message("Again.")]), conn="c2")
    report = check_client_traffic(t.records, CheckerConfig.make(profiles=("core",)))
    assert [f.message for f in report.findings] == []


def test_new_connection_after_the_servers_close_is_still_judged() -> None:
    t = Transcript().open("c1").create("c1").recv(*run_events([Message("Hi.")]), conn="c1")
    t.close("c1", direction="s2c", code=1000).close("c1", direction="c2s", code=1000)
    t.open("c2")
    report = check_client_traffic(t.records, CheckerConfig.make(profiles=("core",)))
    assert [f.requirement for f in report.findings] == ["RWS-ERR-7"]

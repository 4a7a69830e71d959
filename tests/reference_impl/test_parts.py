"""Unit tests of the server's parts: errors, cache, store, validation, limits and the CLI."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import pytest

from reference_impl.cache import CacheEntry, ResponseCache
from reference_impl.cli import build_parser, main, parse_size
from reference_impl.errors import ProtocolError, RequestError, close_codes, code_info, error_event
from reference_impl.faults import Faults
from reference_impl.session import Limits
from reference_impl.session_state import new_id
from reference_impl.store import DATABASE_NAME, ResponseStore, StoredResponse
from reference_impl.validation import check_stream_id

__all__: list[str] = []


def test_ids_are_random_version_4_uuids_after_their_prefix() -> None:
    """Ids are written as uuid.uuid4().hex writes them (version 4, RFC 4122 variant)."""
    ids = {new_id("resp") for _ in range(2000)}
    assert len(ids) == 2000
    for response_id in ids:
        prefix, _, digits = response_id.partition("_")
        assert prefix == "resp"
        assert len(digits) == 32
        assert digits == uuid.UUID(hex=digits).hex
        assert uuid.UUID(hex=digits).version == 4
        assert uuid.UUID(hex=digits).variant == uuid.RFC_4122
    # Every other bit is drawn: each hex digit but the fixed version digit takes many values.
    columns = [{digits[5 + i] for digits in ids} for i in range(32)]
    assert [len(c) for c in columns].count(1) == 1


class TestErrors:
    """RWS-ERR-1, RWS-ERR-2: error events follow the registry."""

    def test_error_event_takes_status_type_and_param_from_the_registry(self) -> None:
        """previous_response_not_found: 400, invalid_request_error, param fixed."""
        event = error_event(RequestError("previous_response_not_found", "gone"), stream_id="a")
        assert event == {
            "type": "error",
            "status": 400,
            "error": {
                "type": "invalid_request_error",
                "code": "previous_response_not_found",
                "message": "gone",
                "param": "previous_response_id",
            },
            "stream_id": "a",
        }

    def test_error_event_names_the_given_param_for_open_codes(self) -> None:
        """invalid_type's param is the offending field."""
        event = error_event(RequestError("invalid_type", "bad", param="input[0]"))
        assert event["error"]["param"] == "input[0]"
        assert "sequence_number" not in event

    def test_unknown_codes_are_refused(self) -> None:
        """Only codes of the registry can be raised."""
        with pytest.raises(KeyError):
            ProtocolError("made_up_code", "x")

    def test_registry_close_codes(self) -> None:
        """RWS-ERR-6: every close code this server uses is in the registry."""
        assert {1000, 1001, 1008, 1009, 1011} <= close_codes()
        assert code_info("websocket_connection_limit_reached").close_code == 1001

    def test_flat_error_fault_uses_the_http_shape(self) -> None:
        """The flat-error fault drops the wrapper (RWS-ERR-1 broken)."""
        event = error_event(ProtocolError("invalid_json", "x"), faults=Faults({"flat-error"}))
        assert event["code"] == "invalid_json"
        assert "error" not in event


class TestCache:
    """RWS-CACHE-1: one entry per lane, found by id."""

    @staticmethod
    def entry(response_id: str, lane: str | None) -> CacheEntry:
        return CacheEntry(response_id, [], [], store=False, api_key="k", lane=lane)

    def test_cache_keeps_each_lanes_latest_entry(self) -> None:
        """A new entry replaces its lane's previous one; other lanes keep theirs."""
        cache, owner = ResponseCache(), object()
        cache.put(owner, self.entry("r1", None))
        cache.put(owner, self.entry("r2", "a"))
        cache.put(owner, self.entry("r3", None))
        assert cache.find("r1") is None
        found = cache.find("r3")
        assert found is not None
        assert found[1].lane is None
        assert cache.entry_of(owner, "a") == self.entry("r2", "a")
        assert len(cache) == 2

    def test_cache_evicts_only_the_named_entry(self) -> None:
        """evict() removes a lane's entry only if it is still the given id."""
        cache, owner = ResponseCache(), object()
        cache.put(owner, self.entry("r1", "a"))
        assert not cache.evict(owner, "a", "r0")
        assert cache.evict(owner, "a", "r1")
        assert cache.find("r1") is None

    def test_cache_drops_an_owners_entries(self) -> None:
        """drop_owner() forgets one connection's entries, not another's."""
        cache, one, two = ResponseCache(), object(), object()
        cache.put(one, self.entry("r1", None))
        cache.put(two, self.entry("r2", None))
        cache.drop_owner(one)
        assert cache.find("r1") is None
        assert cache.find("r2") is not None


class TestStore:
    """RWS-CACHE-3, RWS-CACHE-11, RWS-LIMIT-5: the SQLite store."""

    record = StoredResponse("resp_1", [{"type": "message"}], [{"id": "msg_1"}], {"id": "resp_1"})

    def test_store_round_trips_a_record_for_its_key(self, tmp_path: Path) -> None:
        """A saved record loads back equal, for the same key only."""
        store = ResponseStore(tmp_path)
        store.save(self.record, "key-a")
        assert store.load("resp_1", "key-a") == self.record
        assert store.load("resp_1", "key-b") is None
        assert store.load("resp_1", None) == self.record  # the cross-key fault's lookup
        store.close()

    def test_store_survives_reopening(self, tmp_path: Path) -> None:
        """Records are on disk, in WAL mode, and the API key is not."""
        store = ResponseStore(tmp_path)
        store.save(self.record, "secret-key")
        store.close()
        reopened = ResponseStore(tmp_path)
        assert reopened.load("resp_1", "secret-key") == self.record
        reopened.close()
        assert b"secret-key" not in (tmp_path / DATABASE_NAME).read_bytes()


class TestValidation:
    """RWS-LANE-3: stream_id syntax."""

    @pytest.mark.parametrize("good", ["a", "Z9_-.", "x" * 256])
    def test_valid_stream_ids(self, good: str) -> None:
        assert check_stream_id({"stream_id": good}) == good

    @pytest.mark.parametrize("bad", ["", " ", "a/b", "x" * 257, "ünï", 1, True, []])
    def test_invalid_stream_ids(self, bad: object) -> None:
        with pytest.raises(RequestError) as failure:
            check_stream_id({"stream_id": bad})
        assert failure.value.code == "invalid_stream_id"

    def test_lenient_stream_ids_for_the_fault(self) -> None:
        """accept-bad-stream-id takes any string."""
        assert check_stream_id({"stream_id": "a b"}, lenient=True) == "a b"


class TestCommandLine:
    """python -m reference_impl serve."""

    def test_limits_header_lists_every_parameter(self) -> None:
        """RWS-TRANS-11: the header carries the ten declared parameters."""
        assert Limits().header() == (
            "max-connection-age=3600,idle-timeout=none,max-message-size=16777216,"
            "max-active-responses=16,max-named-lanes=32,busy-lane=queue,"
            "max-queued-requests=64,max-queued-bytes=16777216,write-timeout=30,storage=durable"
        )
        assert "write-timeout=none" in Limits(write_timeout=None).header()
        assert "write-timeout=2.5" in Limits(write_timeout=2.5).header()

    @pytest.mark.parametrize(
        ("text", "size"), [("1048576", 1 << 20), ("16MiB", 16 << 20), ("512KiB", 512 << 10)]
    )
    def test_sizes_parse_with_units(self, text: str, size: int) -> None:
        assert parse_size(text) == size

    def test_bad_sizes_are_refused(self) -> None:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size("lots")

    def test_serve_defaults(self) -> None:
        """Defaults: 127.0.0.1:8080, no keys (the development key), no faults."""
        args = build_parser().parse_args(["serve"])
        assert (args.host, args.port, args.api_key, args.fault) == ("127.0.0.1", 8080, [], [])
        assert args.max_message_size == 16 << 20
        assert args.idle_timeout is None
        assert args.write_timeout == 30.0

    @pytest.mark.parametrize(("text", "seconds"), [("5", 5.0), ("0.5", 0.5), ("none", None)])
    def test_write_timeout_is_seconds_or_none(self, text: str, seconds: float | None) -> None:
        """RWS-LIMIT-13: --write-timeout takes seconds, or none for no timeout."""
        args = build_parser().parse_args(["serve", "--write-timeout", text])
        assert args.write_timeout == seconds

    def test_max_queued_bytes_is_a_positive_size(self, capsys: pytest.CaptureFixture[str]) -> None:
        """RWS-LANE-11: --max-queued-bytes takes a size (16MiB by default); 0 is refused."""
        assert build_parser().parse_args(["serve"]).max_queued_bytes == 16 << 20
        args = build_parser().parse_args(["serve", "--max-queued-bytes", "4MiB"])
        assert args.max_queued_bytes == 4 << 20
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--max-queued-bytes", "0"])
        assert "at least 1 byte" in capsys.readouterr().err

    def test_fault_help_lists_the_faults(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--fault help prints the table and exits 0."""
        assert main(["serve", "--fault", "help"]) == 0
        out = capsys.readouterr().out
        assert "drop-terminal" in out
        assert "RWS-ORDER-2" in out

    def test_unknown_fault_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown fault name is an error."""
        assert main(["serve", "--fault", "nonsense"]) == 2
        assert "nonsense" in capsys.readouterr().err

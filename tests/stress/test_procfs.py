"""Reading a local server from /proc: status, CPU time, sockets, and the sampler."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from conformance.stress.procfs import (
    ProcessSampler,
    TcpEntry,
    find_socket,
    listens_on,
    parse_proc_net_tcp,
    parse_stat_cpu,
    parse_status,
    socket_inodes,
    tcp_states,
)

__all__: list[str] = []

STATUS = """Name:\tpython
State:\tS (sleeping)
VmHWM:\t  262144 kB
VmRSS:\t   48128 kB
Threads:\t2
"""

# A command name with spaces and a parenthesis: fields are counted after the last ")".
STAT = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 2 0 7 0 0"

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0100007F:B0A1 0100007F:8DA2 01 003A0000:00000000 00:00000000 00000000  1000
   1: 0100007F:8DA2 0100007F:B0A1 01 00000000:0001F000 00:00000000 00000000  1000
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000
"""
# Header shortened; the lines keep the kernel's columns.
TCP6 = """  sl  local_address remote_address st tx_queue rx_queue
   0: 0000000000000000FFFF00000100007F:B0A2 0000000000000000FFFF00000100007F:8DA3 04 00001000:0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:0
"""


def test_status_fields_are_read_in_kilobytes() -> None:
    fields = parse_status(STATUS)
    assert (fields["VmRSS"], fields["VmHWM"]) == (48128, 262144)
    assert "Threads" not in fields


def test_cpu_time_is_user_plus_system_after_the_command_name() -> None:
    assert parse_stat_cpu(STAT, 100.0) == 3.0
    assert parse_stat_cpu("garbage", 100.0) is None


def test_proc_net_tcp_entries_decode_addresses_states_and_queues() -> None:
    entries = parse_proc_net_tcp(TCP)
    assert entries[0].local == ("127.0.0.1", 0xB0A1)
    assert entries[0].remote == ("127.0.0.1", 0x8DA2)
    assert (entries[0].state, entries[0].tx_queue) == ("ESTABLISHED", 0x3A0000)
    assert entries[1].rx_queue == 0x1F000
    assert entries[2].state == "LISTEN"
    six = parse_proc_net_tcp(TCP6)
    # An IPv4-mapped IPv6 socket is matched under its IPv4 address.
    assert six[0].local == ("127.0.0.1", 0xB0A2)
    assert six[0].state == "FIN_WAIT1"
    assert six[1].local == ("::1", 0x1F91)


def test_the_servers_socket_is_found_from_the_clients_addresses() -> None:
    entries = parse_proc_net_tcp(TCP) + parse_proc_net_tcp(TCP6)
    client = ("127.0.0.1", 0x8DA2)
    server = ("127.0.0.1", 0xB0A1)
    found = find_socket(entries, server, client)
    assert found is not None
    assert found.tx_queue == 0x3A0000
    mapped = find_socket(entries, ("::ffff:127.0.0.1", 0xB0A2), ("127.0.0.1", 0x8DA3))
    assert mapped is not None
    assert mapped.state == "FIN_WAIT1"
    assert find_socket(entries, server, ("127.0.0.1", 1)) is None


def test_the_sampler_reads_a_process_and_resets_its_peak(tmp_path: Path) -> None:
    proc = tmp_path / "4242"
    proc.mkdir()
    (proc / "status").write_text(STATUS)
    (proc / "stat").write_text(STAT)
    sampler = ProcessSampler(4242, proc=tmp_path)
    sample = sampler.sample()
    assert sample is not None
    assert (sample.rss_kb, sample.hwm_kb) == (48128, 262144)
    assert sampler.samples == [sample]
    assert sampler.reset_peak()
    assert (proc / "clear_refs").read_text() == "5"
    assert sampler.before(sample.t) == sample
    assert sampler.window(sample.t, sample.t) == [sample]


def test_a_process_that_cannot_be_read_gives_no_sample(tmp_path: Path) -> None:
    sampler = ProcessSampler(4243, proc=tmp_path)
    assert not sampler.available()
    assert sampler.sample() is None
    assert not sampler.reset_peak()


def test_the_sampler_reads_this_very_process() -> None:
    sample = ProcessSampler(os.getpid()).read()
    assert sample is not None
    assert sample.rss_kb > 0


def _listening(port: int, inode: int) -> TcpEntry:
    return TcpEntry(("127.0.0.1", port), ("0.0.0.0", 0), "LISTEN", 0, 0, inode)


def test_a_pid_is_the_server_only_if_it_holds_the_socket_listening_on_its_port() -> None:
    entries = [_listening(8080, 111), _listening(9090, 222)]
    assert listens_on(entries, {111, 5}, 8080) is True
    assert listens_on(entries, {222}, 8080) is False
    # Unknown sockets, or nothing listening on the port here: it cannot be told.
    assert listens_on(entries, None, 8080) is None
    assert listens_on(entries, {111}, 7070) is None


def test_this_process_is_seen_listening_on_its_own_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert listens_on(tcp_states(), socket_inodes(os.getpid()), port) is True
        assert listens_on(tcp_states(), set(), port) is False

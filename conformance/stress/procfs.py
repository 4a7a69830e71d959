"""What a local server's process and sockets look like, read from ``/proc``.

Memory figures need the server's pid (``--server-pid``, or the reference server the command
spawned) and a server on this machine: :class:`ProcessSampler` reads ``/proc/PID/status``
(``VmRSS``, ``VmHWM``) and ``/proc/PID/stat`` (CPU time) every ``interval`` seconds. Before a
probe it resets the kernel's high-water mark (``echo 5 > /proc/PID/clear_refs``, Linux 4.0+;
this changes no behaviour of the process, only the counter), so that ``VmHWM`` afterwards is
the probe's own peak, spikes between two samples included.

:func:`tcp_states` reads ``/proc/net/tcp`` and ``tcp6``: for a connection to a local server,
the state of the *server's* socket says when the server closed it even while a stalled
client reads nothing (a FIN cannot reach a client whose receive window is full).

:func:`socket_inodes` and :func:`listens_on` tell whether a pid given for memory figures is
the process that listens on the server's port: the memory of another program (a pid typed
for a remote server, a proxy in front of the server) is not reported as the server's.

The parsers are pure functions; only the small readers touch the file system.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

__all__ = [
    "TCP_STATES",
    "ProcessSample",
    "ProcessSampler",
    "TcpEntry",
    "find_socket",
    "listens_on",
    "parse_proc_net_tcp",
    "parse_stat_cpu",
    "parse_status",
    "socket_inodes",
    "tcp_states",
]

#: /proc/net/tcp state numbers (include/net/tcp_states.h).
TCP_STATES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
}
_MAX_SAMPLES = 200_000


def parse_status(text: str) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``...) in kB."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[name.strip()] = int(parts[0])
    return out


def parse_stat_cpu(text: str, ticks_per_second: float) -> float | None:
    """User plus system CPU seconds from ``/proc/PID/stat`` (fields 14 and 15; the command
    name in field 2 may hold spaces and parentheses, so fields are counted after its end)."""
    _, sep, rest = text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 13:
        return None
    try:
        return (int(fields[11]) + int(fields[12])) / ticks_per_second
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One reading of the server process."""

    t: float  # time.monotonic()
    rss_kb: int
    hwm_kb: int
    cpu_s: float | None


class ProcessSampler:
    """Samples a local process's memory and CPU time in the background (module docstring)."""

    def __init__(self, pid: int, interval: float = 0.1, proc: Path = Path("/proc")) -> None:
        self.pid = pid
        self.interval = interval
        self._dir = proc / str(pid)
        self.samples: list[ProcessSample] = []
        self.hwm_reset_works: bool | None = None
        self._ticks = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0

    def available(self) -> bool:
        """Whether the process can be read (it exists, on this machine, and is ours to see)."""
        return self.read() is not None

    def read(self) -> ProcessSample | None:
        """One sample now, or None when the process cannot be read."""
        try:
            status = parse_status((self._dir / "status").read_text())
        except OSError:
            return None
        if "VmRSS" not in status:
            return None  # a zombie has no memory fields
        cpu: float | None = None
        with contextlib.suppress(OSError):
            cpu = parse_stat_cpu((self._dir / "stat").read_text(), self._ticks)
        return ProcessSample(
            time.monotonic(), status["VmRSS"], status.get("VmHWM", status["VmRSS"]), cpu
        )

    def sample(self) -> ProcessSample | None:
        """Take one sample and keep it (bounded: the oldest are never dropped, the newest are
        once the cap is reached, which a run of hours at 10 per second does not reach)."""
        found = self.read()
        if found is not None and len(self.samples) < _MAX_SAMPLES:
            self.samples.append(found)
        return found

    def reset_peak(self) -> bool:
        """Reset the kernel's RSS high-water mark; return whether that worked."""
        try:
            (self._dir / "clear_refs").write_text("5")
        except OSError:
            self.hwm_reset_works = False
            return False
        self.hwm_reset_works = True
        return True

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            self.sample()
            await trio.sleep(self.interval)

    def window(self, t0: float, t1: float) -> list[ProcessSample]:
        """The samples taken from ``t0`` to ``t1`` (time.monotonic())."""
        return [s for s in self.samples if t0 <= s.t <= t1]

    def before(self, t: float) -> ProcessSample | None:
        """The last sample taken at or before ``t``."""
        found = None
        for s in self.samples:
            if s.t > t:
                break
            found = s
        return found


@dataclass(frozen=True, slots=True)
class TcpEntry:
    """One line of /proc/net/tcp or tcp6."""

    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    tx_queue: int  # bytes the socket has not had acknowledged (what it still has to send)
    rx_queue: int  # bytes received that the application has not read
    inode: int = 0


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port, 16)


def parse_proc_net_tcp(text: str) -> list[TcpEntry]:
    """The entries of a /proc/net/tcp (or tcp6) file."""
    out: list[TcpEntry] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        try:
            tx, _, rx = fields[4].partition(":")
            out.append(
                TcpEntry(
                    _address(fields[1]),
                    _address(fields[2]),
                    TCP_STATES.get(int(fields[3], 16), fields[3]),
                    int(tx, 16),
                    int(rx, 16),
                    int(fields[9]) if len(fields) > 9 and fields[9].isdigit() else 0,
                )
            )
        except ValueError:
            continue
    return out


def _normal(address: tuple[str, int]) -> tuple[str, int]:
    host = ipaddress.ip_address(address[0].split("%", 1)[0])
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped is not None:
        host = host.ipv4_mapped
    return str(host), address[1]


def find_socket(
    entries: Iterable[TcpEntry], local: tuple[str, int], remote: tuple[str, int]
) -> TcpEntry | None:
    """The entry whose local and remote addresses are these (addresses normalised)."""
    want = (_normal(local), _normal(remote))
    for entry in entries:
        if (entry.local, entry.remote) == want:
            return entry
    return None


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int] | None:
    """The inodes of the sockets process ``pid`` holds; None when its fds cannot be read
    (another user's process)."""
    inodes: set[int] = set()
    try:
        links = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return None
    for link in links:
        with contextlib.suppress(OSError):
            target = os.readlink(link)
            if target.startswith("socket:[") and target.endswith("]"):
                inodes.add(int(target[8:-1]))
    return inodes


def listens_on(entries: Iterable[TcpEntry], inodes: set[int] | None, port: int) -> bool | None:
    """Whether a process with these socket inodes listens on ``port``; None when that
    cannot be told (its sockets are unknown, or nothing listed listens on the port)."""
    listening = [e for e in entries if e.state == "LISTEN" and e.local[1] == port]
    if inodes is None or not listening:
        return None
    return any(e.inode in inodes for e in listening)


def tcp_states(
    files: Sequence[Path] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6")),
) -> list[TcpEntry]:
    """Every TCP socket of this network namespace (empty when /proc cannot be read)."""
    out: list[TcpEntry] = []
    for path in files:
        with contextlib.suppress(OSError):
            out.extend(parse_proc_net_tcp(path.read_text()))
    return out

"""Where the proxy listens and where it forwards: ``--listen``, ``--upstream`` and TLS.

``--listen HOST:PORT`` names the loopback (or other) address clients connect to; port 0 takes
any free port. ``--upstream ws(s)://HOST[:PORT][/PATH]`` names the server: a path in the URL
replaces the path the client asked for (the client's query string is kept), no path keeps the
client's. A ``wss`` upstream is verified against the system's CA certificates, or against the
bundle ``--upstream-ca`` names; ``--insecure`` turns verification off, for test servers with a
self-signed certificate. Every problem is a :class:`ValueError` whose message says what to
write instead.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["Listen", "Upstream", "parse_listen", "parse_upstream", "tls_context"]

_DEFAULT_PORTS = {"ws": 80, "wss": 443}


@dataclass(frozen=True)
class Listen:
    """The address the proxy accepts connections on."""

    host: str
    port: int


@dataclass(frozen=True)
class Upstream:
    """The server the proxy forwards to."""

    secure: bool
    host: str
    port: int
    # The path every upgrade goes to (None: the path the client asked for).
    path: str | None

    @property
    def scheme(self) -> str:
        """``wss`` or ``ws``."""
        return "wss" if self.secure else "ws"

    def target(self, client_target: str) -> str:
        """The request target sent upstream for a client that asked for ``client_target``."""
        if self.path is None:
            return client_target or "/"
        _, sep, query = client_target.partition("?")
        return self.path + (sep + query if query else "")

    def url(self, target: str = "") -> str:
        """The URL of ``target`` on the upstream (no credentials: none are ever in it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}{'' if default else f':{self.port}'}{target}"

    def __str__(self) -> str:
        return self.url(self.path or "")


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"{what}: the port must be a number from 0 to 65535, not {text!r}")
    return int(text)


def parse_listen(text: str) -> Listen:
    """``127.0.0.1:8080``, ``[::1]:0`` or ``localhost:9000``."""
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"--listen: expected [IPV6]:PORT, not {text!r}")
        return Listen(host, _port(rest[1:], "--listen"))
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), not {text!r}")
    return Listen(host, _port(port, "--listen"))


def parse_upstream(text: str) -> Upstream:
    """``ws://127.0.0.1:8080``, ``wss://api.example.com/v1/responses`` and the like."""
    parts = urlsplit(text.strip())
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(
            f"--upstream: expected a ws:// or wss:// URL, not {text!r} "
            "(an https:// base URL of an SDK becomes wss://HOST/v1/responses)"
        )
    if parts.username is not None or parts.password is not None:
        # A credential in the URL would be printed with it; the client's Authorization
        # header is forwarded instead.
        raise ValueError(
            "--upstream: the URL must carry no credentials; the client's Authorization "
            "header is forwarded to the upstream"
        )
    if not parts.hostname:
        raise ValueError(f"--upstream: the URL names no host: {text!r}")
    if parts.fragment:
        raise ValueError(f"--upstream: a WebSocket URL has no #fragment: {text!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"--upstream: {exc}: {text!r}") from None
    path = parts.path or None
    if path is not None and parts.query:
        path += "?" + parts.query
    elif path is None and parts.query:
        path = "/?" + parts.query
    return Upstream(
        secure=parts.scheme == "wss",
        host=parts.hostname,
        port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
        path=path,
    )


def tls_context(
    upstream: Upstream, ca_file: str | None = None, insecure: bool = False
) -> ssl.SSLContext | None:
    """The TLS settings for a ``wss`` upstream (None for ``ws``)."""
    if not upstream.secure:
        if ca_file or insecure:
            raise ValueError("--upstream-ca and --insecure apply to a wss:// upstream only")
        return None
    if ca_file is not None and insecure:
        raise ValueError("--upstream-ca and --insecure contradict each other: choose one")
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is not None:
        if not Path(ca_file).is_file():
            raise ValueError(f"--upstream-ca: no such file: {ca_file}")
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"--upstream-ca: cannot read {ca_file}: {exc}") from None
    return ssl.create_default_context()

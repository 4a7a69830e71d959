"""A bad upstream is reported clearly, and the client sees what the upstream did.

An upstream that refuses the TCP connection makes the client's answer ``502 Bad Gateway``
saying why; one that refuses the upgrade (401) has its status, headers and body passed on; one
that drops the connection in the middle of a run has the client's connection dropped too (the
client sees 1006, as it would without the proxy). A ``wss`` upstream is verified against the
system's certificates by default, against ``--upstream-ca`` when given, not at all with
``--insecure``.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.trio.client import connect
from websockets.trio.server import Server, ServerConnection, serve

from conformance.proxy.addresses import parse_upstream, tls_context
from tests.proxy.running import running_proxy

_AUTH = {"Authorization": "Bearer sk-upstream-test"}
_CREATE = json.dumps({"type": "response.create", "model": "conformance-1", "input": "hi"})


def _records(report_dir: Path) -> list[dict[str, Any]]:
    """The records of the session's first connection's transcript."""
    text = (report_dir / "transcripts" / "c1.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def _websockets_server(
    *, refuse: int | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """A websockets server that echoes, or refuses every upgrade with ``refuse``."""

    def process_request(connection: ServerConnection, request: Request) -> object:
        if refuse is None:
            return None
        response = connection.respond(refuse, '{"error":{"code":"invalid_api_key"}}\n')
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            lambda task_status: serve(
                echo,
                0,
                host="127.0.0.1",
                ssl=tls,
                process_request=process_request,  # type: ignore[arg-type]
                task_status=task_status,
            )
        )
        port = next(iter(server.listeners)).socket.getsockname()[1]
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _dropping_server() -> AsyncIterator[str]:
    """An upstream that answers a request with two events of a run, then drops the TCP
    connection without a close frame."""

    async def handle(stream: trio.SocketStream) -> None:
        protocol = ServerProtocol()
        while True:
            protocol.receive_data(await stream.receive_some(65536))
            events = protocol.events_received()
            requests = [e for e in events if isinstance(e, Request)]
            if requests:
                protocol.send_response(protocol.accept(requests[0]))
                await stream.send_all(b"".join(protocol.data_to_send()))
            elif events:  # the client's response.create
                break
        created = {"type": "response.created", "sequence_number": 0, "response": {}}
        protocol.send_text(json.dumps(created).encode())
        protocol.send_text(b'{"type":"response.in_progress","sequence_number":1}')
        await stream.send_all(b"".join(protocol.data_to_send()))
        await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, handle, 0)
        port = listeners[0].socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


async def test_refused_upstream_is_a_502_saying_why(tmp_path: Path) -> None:
    upstream = f"ws://127.0.0.1:{_closed_port()}"
    async with running_proxy(upstream, tmp_path, open_timeout=5.0) as proxy:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(proxy.url + "/v1/responses", additional_headers=_AUTH):
                pass
        await proxy.finish()
    response = refused.value.response
    assert response.status_code == 502
    assert b"cannot reach the upstream" in response.body
    assert f"cannot reach the upstream {upstream}" in proxy.out.getvalue()
    [record] = _records(tmp_path)
    assert (record["kind"], record["status"]) == ("rejected", 502)
    assert "cannot reach the upstream" in record["note"]
    assert record["headers"]["authorization"] == "<redacted>"


async def test_upstream_refusal_reaches_the_client_as_the_upstream_sent_it(
    tmp_path: Path,
) -> None:
    async with _websockets_server(refuse=401) as upstream:
        with pytest.raises(InvalidStatus) as direct:
            async with connect(upstream + "/v1/responses", additional_headers=_AUTH):
                pass
        async with running_proxy(upstream, tmp_path) as proxy:
            with pytest.raises(InvalidStatus) as through:
                async with connect(proxy.url + "/v1/responses", additional_headers=_AUTH):
                    pass
            end = await proxy.finish()
    seen, expected = through.value.response, direct.value.response
    assert (seen.status_code, seen.body) == (expected.status_code, expected.body)
    assert seen.headers["WWW-Authenticate"] == "Bearer"
    assert "the upstream refused the upgrade with HTTP 401" in proxy.out.getvalue()
    assert end.report.findings == ()


async def test_upstream_dropped_mid_run_drops_the_client_and_is_reported(tmp_path: Path) -> None:
    async with _dropping_server() as upstream, running_proxy(upstream, tmp_path) as proxy:
        async with connect(proxy.url + "/v1/responses", additional_headers=_AUTH) as ws:
            await ws.send(_CREATE)
            received = [json.loads(await ws.recv())["type"] for _ in range(2)]
            with pytest.raises(ConnectionClosedError) as dropped:
                await ws.recv()
        await proxy.finish()
    assert received == ["response.created", "response.in_progress"]
    # No close frame reached the client: it saw the connection drop, as the upstream did it.
    assert dropped.value.rcvd is None
    assert "c1: the upstream ended its TCP connection without a close frame" in (
        proxy.out.getvalue()
    )
    records = _records(tmp_path)
    assert records[-1]["kind"] == "close"
    assert records[-1]["code"] == 1006
    assert "dir" not in records[-1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl program)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl program is not installed (it makes the test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("trust", ["upstream-ca", "insecure"])
async def test_wss_upstream_with_its_certificate_trusted_or_unchecked(
    tmp_path: Path, certificate: tuple[Path, Path], trust: str
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with _websockets_server(tls=served) as upstream:
        client_tls = tls_context(
            parse_upstream(upstream),
            str(cert) if trust == "upstream-ca" else None,
            insecure=trust == "insecure",
        )
        async with running_proxy(upstream, tmp_path, tls=client_tls) as proxy:
            async with connect(proxy.url + "/v1/responses", additional_headers=_AUTH) as ws:
                await ws.send("ping through tls")
                assert await ws.recv() == "ping through tls"
            await proxy.finish()


async def test_wss_upstream_not_trusted_by_default_is_a_502_saying_so(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with _websockets_server(tls=served) as upstream:
        default = tls_context(parse_upstream(upstream))
        async with running_proxy(upstream, tmp_path, tls=default) as proxy:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(proxy.url + "/v1/responses", additional_headers=_AUTH):
                    pass
            await proxy.finish()
    assert refused.value.response.status_code == 502
    assert "TLS certificate not trusted" in proxy.out.getvalue()
    assert "--upstream-ca" in proxy.out.getvalue()

"""Addresses, TLS settings and headers of the proxy: clear errors, no credential recorded."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from conformance.proxy.addresses import parse_listen, parse_upstream, tls_context
from conformance.proxy.headers import (
    REDACTED,
    Principals,
    forwarded_request_headers,
    recorded_headers,
    recorded_target,
)


def test_listen_takes_host_and_port_ipv6_included() -> None:
    assert (parse_listen("127.0.0.1:8080").host, parse_listen("127.0.0.1:8080").port) == (
        "127.0.0.1",
        8080,
    )
    assert parse_listen("[::1]:0").host == "::1"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("8080", "expected HOST:PORT"),
        ("localhost:http", "the port must be a number"),
        ("127.0.0.1:70000", "the port must be a number"),
    ],
)
def test_bad_listen_address_says_what_to_write(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_listen(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://api.example.test/v1", "expected a ws:// or wss:// URL"),
        ("wss://user:secret@api.example.test/", "must carry no credentials"),
        ("ws:///v1/responses", "names no host"),
    ],
)
def test_bad_upstream_says_what_to_write(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_upstream(value)


def test_upstream_default_ports_and_display() -> None:
    secure = parse_upstream("wss://api.example.test/v1/responses")
    assert (secure.port, secure.secure, str(secure)) == (
        443,
        True,
        "wss://api.example.test/v1/responses",
    )
    assert parse_upstream("ws://[::1]:9000").url("/x") == "ws://[::1]:9000/x"


def test_tls_verifies_by_default_and_insecure_does_not(tmp_path: Path) -> None:
    upstream = parse_upstream("wss://api.example.test")
    default = tls_context(upstream)
    assert default is not None
    assert default.verify_mode is ssl.CERT_REQUIRED
    assert default.check_hostname
    insecure = tls_context(upstream, insecure=True)
    assert insecure is not None
    assert insecure.verify_mode is ssl.CERT_NONE
    with pytest.raises(ValueError, match="no such file"):
        tls_context(upstream, str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="wss:// upstream only"):
        tls_context(parse_upstream("ws://h"), insecure=True)


def test_credentials_are_forwarded_but_never_recorded() -> None:
    items = [
        ("Host", "proxy"),
        ("Authorization", "Bearer sk-1"),
        ("Cookie", "session=s"),
        ("X-Api-Key", "k"),
        ("OpenAI-Beta", "responses_websockets=1"),
        ("Sec-WebSocket-Key", "abc"),
    ]
    forwarded = forwarded_request_headers(items)
    assert ("Authorization", "Bearer sk-1") in forwarded
    assert ("Host", "proxy") not in forwarded
    assert ("Sec-WebSocket-Key", "abc") not in forwarded
    recorded = recorded_headers(items)
    assert recorded["authorization"] == REDACTED
    assert recorded["cookie"] == REDACTED
    assert recorded["x-api-key"] == REDACTED
    assert recorded["openai-beta"] == "responses_websockets=1"
    assert "sk-1" not in recorded_target("/v1/responses?api_key=sk-1&model=m")
    assert recorded_target("/v1/responses?model=m") == "/v1/responses?model=m"


def test_principal_is_stable_in_a_session_and_reveals_nothing() -> None:
    principals = Principals()
    first = principals.of(["Bearer sk-secret-1"])
    assert first == principals.of(["Bearer sk-secret-1"])
    assert first != principals.of(["Bearer sk-secret-2"])
    assert first is not None
    assert "sk-secret" not in first
    assert first != Principals().of(["Bearer sk-secret-1"])
    assert principals.of([]) is None

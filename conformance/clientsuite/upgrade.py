"""The scripted server's door: how the client carried its credential (RWS-TRANS-19).

Sans-I/O. The server's glue (:mod:`conformance.clientsuite.server`) hands
:func:`inspect_upgrade` what the upgrade request carried - its target, every value of its
``Authorization`` header, its other headers - and the key the suite gave the client
(``RWS_API_KEY``). The :class:`Upgrade` it gets back says whether to accept the upgrade, and
describes what the client sent without the credential itself (the report must never show a
key). The judge (:mod:`conformance.clientsuite.judge`) turns the upgrades of a scenario into
the RWS-TRANS-19 verdict. A transcript does not record the credential (docs/transcripts.md),
so this check is the client suite's alone, made where the request is seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from conformance.checker.client import load_client_rules

__all__ = ["HEADER", "REQUIREMENT", "SCHEME", "Upgrade", "inspect_upgrade", "upgrades"]

# RWS-TRANS-19 (schemas/rules/client.json, upgrade_credential): the client carries its
# credential in `Authorization: Bearer <credential>`; the scripted server documents no other
# way to carry it (RWS-TRANS-14). An authentication scheme is compared without regard to case
# (RFC 9110, section 11.1).
_RULES = load_client_rules()
REQUIREMENT = _RULES.credential_requirements[0]
HEADER = _RULES.credential_header
SCHEME = _RULES.credential_scheme
# A scheme is named in the report only when it looks like one (and is not the key itself).
_SCHEME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,23}")


@dataclass(frozen=True)
class Upgrade:
    """What one upgrade request carried, described without the credential."""

    authorization: tuple[str, ...]  # each Authorization value in words, e.g. "Basic …"
    bearer: bool  # exactly one Authorization header, "Bearer <credential>" (RWS-TRANS-19)
    key_matches: bool  # that credential is the key the suite gave
    key_elsewhere: tuple[str, ...]  # where else the key was: "the query parameter `api_key`"

    @property
    def accepted(self) -> bool:
        """Whether the scripted server lets this upgrade through (RWS-TRANS-2)."""
        return self.bearer and self.key_matches

    def describe(self) -> str:
        """What the client sent, in words, e.g. "the upgrade carried `Authorization: Token …`"."""
        values = [f"`{HEADER}: {a}`" for a in self.authorization]
        if not values:
            head = f"no {HEADER} header"
        elif len(values) == 1:
            head = values[0]
        else:
            head = f"{len(values)} {HEADER} headers ({', '.join(values)})"
        text = f"the upgrade carried {head}"
        if self.bearer and not self.key_matches:
            text += " with a credential other than the key the suite gave (RWS_API_KEY)"
        if self.key_elsewhere:
            text += "; the key was in " + " and ".join(self.key_elsewhere)
        return text

    def to_dict(self) -> dict[str, Any]:
        """The observation the judge reads (JSON-ready, no credential)."""
        return {
            "authorization": list(self.authorization),
            "bearer": self.bearer,
            "key_matches": self.key_matches,
            "key_elsewhere": list(self.key_elsewhere),
            "description": self.describe(),
        }


def _value(value: str, key: str) -> str:
    """One Authorization value in words: its scheme and "…" for the credential."""
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if not scheme:
        return "(an empty value)"
    if key and key in scheme:
        return "<the key itself, without a scheme>"
    if not credential:
        if scheme.lower() == SCHEME.lower():
            return f"{scheme} (no credential)"
        return f"<a value of {len(scheme)} characters without a credential>"
    shown = scheme if _SCHEME_TOKEN.fullmatch(scheme) else f"<a {len(scheme)}-character scheme>"
    return f"{shown} …"


def _bearer(values: Iterable[str]) -> tuple[bool, str]:
    found = list(values)
    if len(found) != 1:
        return False, ""
    scheme, _, credential = found[0].strip().partition(" ")
    credential = credential.strip()
    return scheme.lower() == SCHEME.lower() and bool(credential), credential


def inspect_upgrade(
    target: str,
    authorization: Iterable[str],
    headers: Iterable[tuple[str, str]],
    key: str,
) -> Upgrade:
    """Look at one upgrade request: ``target`` (path and query), the values of its
    Authorization headers, all its headers (name, value) and the suite's key."""
    values = tuple(authorization)
    bearer, credential = _bearer(values)
    elsewhere: list[str] = []
    query = target.partition("?")[2]
    for name, value in parse_qsl(query, keep_blank_values=True):
        if key and key in value:
            shown = f"`{name}`" if key not in name and _SCHEME_TOKEN.fullmatch(name) else ""
            elsewhere.append(f"the query parameter {shown}".rstrip())
    for name, value in headers:
        if name.lower() != HEADER.lower() and key and key in value:
            elsewhere.append(f"the header `{name}`")
    return Upgrade(
        authorization=tuple(_value(v, key) for v in values),
        bearer=bearer,
        key_matches=bearer and credential == key,
        key_elsewhere=tuple(dict.fromkeys(elsewhere)),
    )


def upgrades(observations: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The upgrade observations the scripted server recorded, in order."""
    found = observations.get("upgrades")
    return [u for u in found if isinstance(u, Mapping)] if isinstance(found, list) else []

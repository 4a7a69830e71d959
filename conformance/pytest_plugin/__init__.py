"""The pytest plugin of the conformance suite (registered as the ``pytest11`` entry point
``responses_ws``): run the server suite as pytest items.

Usage::

    pytest --pyargs conformance --rws-server-url ws://127.0.0.1:8080 --rws-report-dir out
    pytest -p responses_ws --rws-server-url ws://... --rws-expected-failures baseline.yaml

Because the entry point loads the plugin into *every* pytest run of anyone who installs the
package, it does nothing at all unless ``--rws-server-url`` is given: it only adds its
options. The options that shape a run are ``responses-ws check``'s, prefixed ``--rws-``, and
both are read and turned into the suite's configuration by the same code
(:mod:`conformance.suite_options`), so a pytest run and a ``responses-ws check`` run of the
same server with the same options give the same verdicts.

With ``--rws-server-url`` a session object is registered (:mod:`.suite`) that

* collects one :class:`CheckItem` per suite check (under the node ``responses-ws``), taken as
  data from a :class:`SuiteSource` - by default the harness's scenario registry; a
  ``conftest.py`` can supply another through the ``pytest_rws_suite_source`` hook;
* runs each check when its item runs and maps the verdict: FAILED -> failure (expected vs
  actual and the wire log), FAILED but listed in the expected-failures file -> xfail,
  WARNING and INFORMATIONAL -> pass with a report section and ``user_properties`` (never a
  Python warning: this project's pytest turns warnings into errors, and so may yours),
  SKIPPED -> skip with the reason, BLOCKED (a requirement it relies on was violated) -> skip
  naming the blocker; a check named by a stale expected-failures entry fails;
* at the end writes ``report.json``, ``junit.xml`` and ``report.html`` into
  ``--rws-report-dir`` and fails the session when an expected-failures entry is stale or
  every check was skipped (a vacuous run must not read as green).

With ``--rws-client-cmd CMD`` (instead of ``--rws-server-url``) the same session runs the
client suite (``responses-ws check-client``): one item per client scenario, the client
program run against a scripted server (docs/client-adapters.md).

With ``--rws-fuzz {stateless,stateful,both}`` (and ``--rws-server-url``) the session runs the
fuzzer of ``responses-ws fuzz`` instead of the suite (:mod:`.fuzz`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.baseline import BaselineError, ExpectedFailure, load_expected_failures
from conformance.pytest_plugin.fuzz import (
    FuzzFindingError,
    FuzzItem,
    FuzzSettings,
    FuzzUnreachableError,
    RwsFuzzSession,
    add_fuzz_options,
    configure_fuzz,
)
from conformance.pytest_plugin.suite import (
    PREFIX,
    CheckFailedError,
    CheckItem,
    CheckSpec,
    HarnessSource,
    RwsSession,
    RwsSettings,
    StaleExpectedFailureError,
    SuiteSource,
    client_source,
    settings_from_config,
)
from conformance.suite_options import add_options

__all__ = [
    "CheckFailedError",
    "CheckItem",
    "CheckSpec",
    "FuzzFindingError",
    "FuzzItem",
    "FuzzSettings",
    "FuzzUnreachableError",
    "HarnessSource",
    "RwsFuzzSession",
    "RwsSession",
    "RwsSettings",
    "StaleExpectedFailureError",
    "SuiteSource",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
]

_SESSION_NAME = "responses_ws_session"


class _HookSpecs:
    """The plugin's own hook."""

    @pytest.hookspec(firstresult=True)
    def pytest_rws_suite_source(
        self, config: pytest.Config, settings: RwsSettings
    ) -> SuiteSource | None:
        """Return the source of checks to run instead of the harness's scenario registry."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register ``pytest_rws_suite_source``."""
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--rws-*`` options (the only thing the plugin does without ``--rws-server-url``)."""
    group = parser.getgroup("responses-ws", "responses-ws conformance suite")
    group.addoption(
        "--rws-server-url",
        default=None,
        metavar="URL",
        help="run the server conformance suite against this base URL (ws://host:port); "
        "without it the plugin does nothing",
    )
    # The same options as `responses-ws check`, from the same table, prefixed --rws-.
    add_options(group.addoption, PREFIX)
    _add_client_options(group.addoption)
    add_fuzz_options(group.addoption)


def _add_client_options(addoption: Callable[..., object]) -> None:
    """The client suite (``responses-ws check-client``): run it instead of the server suite."""
    addoption(
        "--rws-client-cmd",
        default=None,
        metavar="CMD",
        help="run the client conformance suite against this client program (an adapter, "
        "docs/client-adapters.md) instead of the server suite",
    )
    addoption(
        "--rws-client-name",
        default="client",
        help="the client's name in check ids and reports (default: client)",
    )
    addoption(
        "--rws-client-profile",
        action="append",
        default=[],
        help="a profile the client declares (repeatable or comma-separated; default: core)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the session plugin, only when ``--rws-server-url`` (or ``--rws-client-cmd``)
    is given."""
    settings = settings_from_config(config)
    if config.getoption("rws_fuzz"):
        configure_fuzz(config, settings)
        return
    client = client_source(config) if settings is None else None
    if client is not None:
        settings = client[0]
    if settings is None:
        return
    baseline: tuple[ExpectedFailure, ...] = ()
    if settings.expected_failures is not None:
        try:
            baseline = load_expected_failures(settings.expected_failures)
        except (OSError, BaselineError) as exc:
            raise pytest.UsageError(f"--rws-expected-failures: {exc}") from exc
    source: SuiteSource | None = config.hook.pytest_rws_suite_source(
        config=config, settings=settings
    )
    if client is not None:
        source = client[1]
    elif source is None:
        source = HarnessSource(settings)
    config.pluginmanager.register(
        RwsSession(config=config, settings=settings, source=source, baseline=baseline),
        _SESSION_NAME,
    )

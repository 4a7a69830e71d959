"""The options of a server-suite run, shared by ``responses-ws check`` and the pytest plugin.

Both front ends register the same options from :data:`OPTIONS` (the command as ``--api-key``,
the plugin as ``--rws-api-key``), read them with :func:`read_options` into one
:class:`SuiteOptions`, choose the model with :func:`resolve_model` and build the suite's
:class:`~conformance.harness.config.SuiteConfig` with :func:`suite_config`. Defaults,
environment variables, the empty-string rule and the validation live here only, so the two
cannot drift apart: the same server and the same options give the same verdicts.

This module is imported by the pytest plugin in *every* pytest run of anyone who installs the
package, so it imports nothing heavy at module level (no harness, trio or websockets).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.harness.config import SuiteConfig

__all__ = [
    "CONFORMANCE_MODEL",
    "DEFAULT_QUIET_PERIOD",
    "DEFAULT_TIMEOUT",
    "OPTIONS",
    "STRESS_OPTIONS",
    "ModelUnavailableError",
    "OptionError",
    "OptionSpec",
    "StressOptions",
    "SuiteOptions",
    "add_options",
    "add_stress_options",
    "default_profiles",
    "env_float",
    "read_options",
    "read_stress_options",
    "resolve_model",
    "suite_config",
]

CONFORMANCE_MODEL = "conformance-1"
DEFAULT_TIMEOUT = 5.0
DEFAULT_QUIET_PERIOD = 0.3


class OptionError(ValueError):
    """An option value that cannot be used (the message names the option as typed)."""


class ModelUnavailableError(RuntimeError):
    """No model was named and the server does not offer ``conformance-1``, or cannot be
    reached to ask."""


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    """Return the float in environment variable ``name``, or ``default`` when unset or bad."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        return default
    try:
        parsed = float(value)
    except ValueError:
        return default
    return parsed if parsed > 0 else default


@dataclass(frozen=True)
class OptionSpec:
    """One option: ``--<prefix><flag>``; its value is read back under ``dest``.

    ``help`` may name other options as ``{p}flag`` (``{p}`` becomes ``--`` plus the front
    end's prefix). ``kind`` is ``str``, ``float``, ``flag`` (store_true) or ``list``
    (repeatable).
    """

    flag: str
    help: str
    kind: str = "str"
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The attribute name, without the front end's prefix."""
        return self.flag.replace("-", "_")

    def arguments(self, prefix: str) -> tuple[str, dict[str, Any]]:
        """The option string and the keyword arguments of ``add_argument``/``addoption``."""
        kwargs: dict[str, Any] = {"help": self.help.replace("{p}", f"--{prefix}")}
        if self.kind == "flag":
            kwargs.update(action="store_true", default=False)
        elif self.kind == "list":
            kwargs.update(action="append", default=None)
        elif self.kind == "float":
            kwargs.update(type=float, default=None)
        else:
            kwargs.update(default=None)
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        return f"--{prefix}{self.flag}", kwargs


# Every option both front ends take, in --help order. The server URL is not here: each front
# end says differently what it does without one (the command may spawn the reference server;
# the plugin stays inert).
OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "api-key",
        "the API key the suite connects with (env RWS_API_KEY)",
        metavar="KEY",
    ),
    OptionSpec(
        "api-key2",
        "a second API key the server accepts (env RWS_API_KEY2): RWS-LIMIT-5 checks that a "
        "response stored under one key cannot be continued with another; without a second "
        "key that check FAILS unless {p}single-key is given",
        metavar="KEY",
    ),
    OptionSpec(
        "single-key",
        "declare that only one API key exists: the RWS-LIMIT-5 check is then SKIPPED instead "
        "of FAILED for the missing second key",
        kind="flag",
    ),
    OptionSpec(
        "model",
        f"the model to request (default: {CONFORMANCE_MODEL} when the server offers it; "
        "otherwise name one)",
        metavar="NAME",
    ),
    OptionSpec(
        "profile",
        "profiles the server declares: core, multiplex, steering, conformance-model, http "
        f"(comma-separated or repeated; default core, plus conformance-model with "
        f"{CONFORMANCE_MODEL})",
        kind="list",
        metavar="P[,P...]",
    ),
    OptionSpec(
        "server-param",
        "a server parameter the server declares (repeatable): max-connection-age, "
        "idle-timeout, max-message-size, max-active-responses, max-named-lanes, busy-lane, "
        "max-queued-requests, max-queued-bytes, storage",
        kind="list",
        metavar="NAME=VALUE",
    ),
    OptionSpec(
        "timeout",
        f"'must happen within' wait in seconds (env RWS_TIMEOUT, default {DEFAULT_TIMEOUT:g})",
        kind="float",
        metavar="SECONDS",
    ),
    OptionSpec(
        "quiet-period",
        "'must not happen during' wait in seconds (env RWS_QUIET_PERIOD, default "
        f"{DEFAULT_QUIET_PERIOD:g})",
        kind="float",
        metavar="SECONDS",
    ),
    OptionSpec(
        "test-connection-age",
        "the server at {p}age-limit-url (default: the server under test) runs with this short "
        "max-connection-age for testing; enables the RWS-LIMIT-1/2 checks",
        kind="float",
        metavar="SECONDS",
    ),
    OptionSpec(
        "age-limit-url",
        "an instance of the server started with the short connection age of {p}test-connection-age",
        metavar="URL",
    ),
    OptionSpec(
        "test-idle-timeout",
        "the server at {p}idle-limit-url (default: the server under test) runs with this "
        "short idle-timeout for testing; enables the RWS-LIMIT-4 checks",
        kind="float",
        metavar="SECONDS",
    ),
    OptionSpec(
        "idle-limit-url",
        "an instance of the server started with the short idle-timeout of {p}test-idle-timeout",
        metavar="URL",
    ),
    OptionSpec(
        "no-steering-url",
        "an instance of the server without the steering profile, for RWS-STEER-1 when the "
        "server under test declares steering",
        metavar="URL",
    ),
    OptionSpec(
        "expected-failures",
        "YAML list of known failures (the baseline)",
        metavar="FILE",
    ),
    OptionSpec(
        "report-dir",
        "write report.json, junit.xml and report.html into this folder",
        metavar="DIR",
    ),
)


def add_options(add: Callable[..., object], prefix: str = "") -> None:
    """Register :data:`OPTIONS` with ``add`` (``ArgumentParser.add_argument`` or a pytest
    option group's ``addoption``), each as ``--<prefix><flag>``."""
    for spec in OPTIONS:
        name, kwargs = spec.arguments(prefix)
        add(name, **kwargs)


# The stress mode's options (issue 18): ``responses-ws check`` only. Stress is not a profile
# and not a pytest run, so the plugin does not take them.
STRESS_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "stress",
        "run the stress probes (slow reader, stalled reader, queue flood, large input, "
        "bad-frame flood) instead of the conformance checks: figures with WARNING or "
        "INFORMATIONAL verdicts, never a conformance verdict",
        kind="flag",
    ),
    OptionSpec(
        "server-pid",
        "the pid of the server under test, when it runs on this machine: the stress probes "
        "then report its memory and CPU time (with {p}spawn-reference, the spawned server's)",
        metavar="PID",
    ),
    OptionSpec(
        "stress-param",
        "change a stress parameter or limit (repeatable; {p}stress --list names them all), "
        "e.g. slow-reader.seconds=10 or limits.latency-s=1",
        kind="list",
        metavar="NAME=VALUE",
    ),
    OptionSpec(
        "stress-probe",
        "run only this stress probe (repeatable): slow-reader, stalled-reader, queue-flood, "
        "large-input, bad-frame-flood",
        kind="list",
        metavar="NAME",
    ),
)


@dataclass(frozen=True)
class StressOptions:
    """What the user asked of the stress mode."""

    enabled: bool = False
    server_pid: int | None = None
    params: tuple[str, ...] = ()  # NAME=VALUE, checked by conformance.stress.config
    probes: tuple[str, ...] = ()  # () : every probe


def add_stress_options(add: Callable[..., object]) -> None:
    """Register :data:`STRESS_OPTIONS` with ``add``."""
    for spec in STRESS_OPTIONS:
        name, kwargs = spec.arguments("")
        add(name, **kwargs)


def read_stress_options(get: Callable[[str], object]) -> StressOptions:
    """Read :data:`STRESS_OPTIONS` through ``get(dest)``; raises :class:`OptionError`."""
    pid_text = _text(get("server_pid"))
    pid: int | None = None
    if pid_text is not None:
        if not pid_text.isdigit() or int(pid_text) <= 0:
            raise OptionError(f"--server-pid expects a process id, got {pid_text!r}")
        pid = int(pid_text)
    probes = _split_profiles(_many(get("stress_probe")))
    return StressOptions(
        enabled=bool(get("stress")),
        server_pid=pid,
        params=tuple(str(v) for v in _many(get("stress_param"))),
        probes=probes,
    )


@dataclass(frozen=True)
class SuiteOptions:
    """What the user asked for: the options after defaults, environment and validation, but
    before the model is chosen (:func:`resolve_model`) and the suite configured
    (:func:`suite_config`). No field holds an empty string."""

    server_url: str | None
    api_key: str | None = None
    api_key2: str | None = None
    single_key: bool = False
    model: str | None = None  # None: conformance-1 if the server offers it
    profiles: tuple[str, ...] = ()  # () : the default profiles of the model
    parameters: tuple[tuple[str, str], ...] = ()  # declared server parameters, in order
    timeout: float = DEFAULT_TIMEOUT
    quiet_period: float = DEFAULT_QUIET_PERIOD
    test_connection_age: float | None = None
    age_limit_url: str | None = None
    test_idle_timeout: float | None = None
    idle_limit_url: str | None = None
    no_steering_url: str | None = None
    expected_failures: Path | None = None
    report_dir: Path | None = None


def _text(value: object) -> str | None:
    """A string option: ``None`` when absent or empty (``--api-key2 "$KEY2"`` with KEY2 unset
    means "no second key", not the key ``""``)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _positive(value: object, flag: str) -> float | None:
    if value is None:
        return None
    number = float(str(value))
    if number <= 0:
        raise OptionError(f"{flag} must be a positive number of seconds, got {value!r}")
    return number


def _many(value: object) -> list[object]:
    """A repeatable option's values (argparse and pytest give None when it is absent)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _split_profiles(values: Iterable[object]) -> tuple[str, ...]:
    profiles: list[str] = []
    for value in values:
        profiles.extend(p.strip() for p in str(value).split(",") if p.strip())
    return tuple(dict.fromkeys(profiles))


def read_options(
    get: Callable[[str], object],
    *,
    prefix: str = "",
    server_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> SuiteOptions:
    """Read :data:`OPTIONS` through ``get(dest)`` (``dest`` without the prefix) into
    :class:`SuiteOptions`. Raises :class:`OptionError` naming the option as typed."""
    env = os.environ if environ is None else environ
    values = {spec.dest: get(spec.dest) for spec in OPTIONS}

    def flag(name: str) -> str:
        return f"--{prefix}{name}"

    parameters: list[tuple[str, str]] = []
    for pair in _many(values["server_param"]):
        name, sep, value = str(pair).partition("=")
        if not sep or not name.strip():
            raise OptionError(f"{flag('server-param')} expects NAME=VALUE, got {pair!r}")
        parameters.append((name.strip(), value.strip()))
    timeout = _positive(values["timeout"], flag("timeout"))
    quiet = _positive(values["quiet_period"], flag("quiet-period"))
    baseline = _text(values["expected_failures"])
    report_dir = _text(values["report_dir"])
    return SuiteOptions(
        server_url=_text(server_url),
        # The keys may come from the environment so that they stay out of shell history.
        api_key=_text(values["api_key"]) or _text(env.get("RWS_API_KEY")),
        api_key2=_text(values["api_key2"]) or _text(env.get("RWS_API_KEY2")),
        single_key=bool(values["single_key"]),
        model=_text(values["model"]),
        profiles=_split_profiles(_many(values["profile"])),
        parameters=tuple(parameters),
        timeout=timeout or env_float("RWS_TIMEOUT", DEFAULT_TIMEOUT, env),
        quiet_period=quiet or env_float("RWS_QUIET_PERIOD", DEFAULT_QUIET_PERIOD, env),
        test_connection_age=_positive(values["test_connection_age"], flag("test-connection-age")),
        age_limit_url=_text(values["age_limit_url"]),
        test_idle_timeout=_positive(values["test_idle_timeout"], flag("test-idle-timeout")),
        idle_limit_url=_text(values["idle_limit_url"]),
        no_steering_url=_text(values["no_steering_url"]),
        expected_failures=Path(baseline) if baseline else None,
        report_dir=Path(report_dir) if report_dir else None,
    )


def default_profiles(model: str) -> frozenset[str]:
    """The profiles assumed when none is declared: core, plus conformance-model when the
    model is conformance-1."""
    return frozenset({"core", "conformance-model"} if model == CONFORMANCE_MODEL else {"core"})


def suite_config(options: SuiteOptions, model: str) -> SuiteConfig:
    """The suite configuration for ``options`` with the chosen ``model``."""
    from conformance.harness.config import DEFAULT_PARAMETERS, SuiteConfig

    if options.server_url is None:
        raise OptionError("no server URL")
    return SuiteConfig(
        server_url=options.server_url,
        api_key=options.api_key,
        api_key2=options.api_key2,
        single_key=options.single_key,
        model=model,
        profiles=frozenset(options.profiles) or default_profiles(model),
        parameters={**DEFAULT_PARAMETERS, **dict(options.parameters)},
        timeout=options.timeout,
        quiet_period=options.quiet_period,
        test_connection_age=options.test_connection_age,
        age_limit_url=options.age_limit_url,
        test_idle_timeout=options.test_idle_timeout,
        idle_limit_url=options.idle_limit_url,
        no_steering_url=options.no_steering_url,
    )


def resolve_model(options: SuiteOptions, prefix: str = "") -> str:
    """The model the run requests: the one named, else conformance-1 when the server offers
    it (asked with one ``generate: false`` request). Raises :class:`ModelUnavailableError`."""
    if options.model is not None:
        return options.model
    import trio

    from conformance.harness.probe import offers_model
    from conformance.harness.wire import Rejected

    config = suite_config(options, CONFORMANCE_MODEL)
    try:
        offered = trio.run(offers_model, config, CONFORMANCE_MODEL)
    except Rejected as exc:
        raise ModelUnavailableError(f"cannot open {config.url}: {exc}") from exc
    if not offered:
        raise ModelUnavailableError(
            f"the server does not offer {CONFORMANCE_MODEL}; name a model with --{prefix}model"
        )
    return CONFORMANCE_MODEL

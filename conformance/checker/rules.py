"""Load the rule tables under ``schemas/rules/`` and compile them for the checker's hot path.

The tables are the rules; this module only turns them into dict lookups (transition tables
keyed by ``(state, token)``, equalities indexed by event type, pre-parsed JSON paths). Nothing
here decides what is right: a rule that is not in the data is not checked.
"""

from __future__ import annotations

import json
import operator
import pathlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from conformance import _paths

__all__ = [
    "MISSING",
    "Assertion",
    "CacheRules",
    "DeltaRules",
    "Equality",
    "ErrorCode",
    "Listing",
    "Machine",
    "OrderingRules",
    "Path",
    "RequestRules",
    "Rules",
    "SameAs",
    "Scope",
    "Transition",
    "Var",
    "load_rules",
    "parse_path",
    "resolve",
]


class _Missing:
    """The value of a path that is absent (distinct from JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Var:
    """A path step replaced by a key value: ``{content_index}``."""

    name: str


Path = tuple[str | int | Var, ...]
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[\{([A-Za-z_]+)\}\]")


def parse_path(text: str) -> Path:
    """Parse ``item.content[{content_index}].text`` into steps."""
    steps: list[str | int | Var] = []
    for name, number, var in _STEP.findall(text):
        if name:
            steps.append(name)
        elif number:
            steps.append(int(number))
        else:
            steps.append(Var(var))
    return tuple(steps)


def resolve(obj: Any, path: Path, subst: Mapping[str, Any] | None = None) -> Any:
    """Return the value at ``path`` in ``obj``, or :data:`MISSING`; never raises."""
    node = obj
    for step in path:
        # A name first: most steps are one (an exact class test, the cheapest on this path).
        if step.__class__ is str:
            if not isinstance(node, dict):
                return MISSING
            node = node.get(step, MISSING)
            if node is MISSING:
                return MISSING
            continue
        if isinstance(step, Var):
            step_value = subst.get(step.name, MISSING) if subst is not None else MISSING
            if not isinstance(step_value, int | str) or isinstance(step_value, bool):
                return MISSING
            step = step_value
        if isinstance(step, str):
            if not isinstance(node, dict):
                return MISSING
            node = node.get(step, MISSING)
            if node is MISSING:
                return MISSING
        else:
            if not isinstance(node, list) or not 0 <= step < len(node):
                return MISSING
            node = node[step]
    return node


def _ids(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else ()


def _events(node: Mapping[str, Any]) -> tuple[str, ...]:
    if "event" in node:
        return (str(node["event"]),)
    events = node.get("events", ())
    return tuple(events) if isinstance(events, list) else (str(events),)


# --- ordering ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assertion:
    """A value an event must carry on a transition."""

    path: Path
    path_text: str
    op: str  # equals | in | not_in | present
    value: Any
    requirements: tuple[str, ...]

    def holds(self, event: Mapping[str, Any]) -> tuple[bool, Any]:
        """Whether the event satisfies it, and the actual value."""
        actual = resolve(event, self.path)
        if self.op == "equals":
            ok = actual is not MISSING and _same(actual, self.value)
        elif self.op == "in":
            ok = actual is not MISSING and any(_same(actual, v) for v in self.value)
        elif self.op == "not_in":
            ok = actual is not MISSING and not any(_same(actual, v) for v in self.value)
        else:  # present: there and not null
            ok = actual is not MISSING and actual is not None
        return ok, actual

    def expected_text(self) -> str:
        """What the assertion wants, for a finding message."""
        if self.op == "present":
            return f"{self.path_text} present and not null"
        if self.op == "not_in":
            return f"{self.path_text} not one of {json.dumps(self.value)}"
        if self.op == "in":
            return f"{self.path_text} one of {json.dumps(self.value)}"
        return f"{self.path_text} = {json.dumps(self.value)}"


def _same(a: Any, b: Any) -> bool:
    # JSON equality: True is not 1, 1.0 is 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of a machine's table."""

    to: str | None
    requirements: tuple[str, ...]
    asserts: tuple[Assertion, ...]
    open_children: tuple[str, ...]
    pure: bool  # no assertions and no open-children check: only a state change


@dataclass(frozen=True, slots=True)
class Machine:
    """A state machine: ``table[(state, token)]``.

    A token is an event type, ``*``, or ``child:<scope>`` for an event of an enclosed scope.
    """

    name: str
    initial: str
    final: frozenset[str]
    table: Mapping[tuple[str, str], Transition]
    violation: tuple[str, ...]
    state_violation: Mapping[str, tuple[str, ...]]
    # The same table by state, then token (the hot path avoids building a key tuple).
    by_state: Mapping[str, Mapping[str, Transition]]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a machine runs: the response, an output item, a part, a command."""

    name: str
    parent: str | None
    key: tuple[str, ...]
    opened_by: frozenset[str]
    select: Path | None  # None: select by the parent's selection
    machines: Mapping[str, str]
    dense_field: str | None
    dense_requirements: tuple[str, ...]
    before_open: tuple[str, ...]
    after_close: tuple[str, ...]
    concurrent: tuple[str, ...]
    chain: tuple[str, ...]  # scope names from the response down to this one
    child_tokens: tuple[str, ...]  # what each enclosing scope sees: child:<next scope>


@dataclass(frozen=True, slots=True)
class RunCondition:
    """incomplete_item / generate_false: cross-scope rules of a run."""

    requirements: tuple[str, ...]
    status: str | None
    forbidden_after: str | None  # no event of this type after the condition arises
    run_ends: str | None
    asserts: tuple[Assertion, ...]


@dataclass(frozen=True, slots=True)
class OrderingRules:
    """ordering.json, compiled."""

    routing: tuple[tuple[tuple[str, ...], str], ...]
    scopes: Mapping[str, Scope]
    chains: Mapping[str, tuple[Scope, ...]]  # scope name -> the scopes from the response down
    machines: Mapping[str, Machine]
    incomplete_item: RunCondition
    generate_false: RunCondition

    def route(self, event: Mapping[str, Any]) -> str:
        """The scope an event belongs to (the first routing row whose keys it all carries)."""
        for keys, scope in self.routing:
            for k in keys:
                if k not in event:
                    break
            else:
                return scope
        return "response"


def _assertions(rows: Any) -> tuple[Assertion, ...]:
    out: list[Assertion] = []
    for row in rows if isinstance(rows, list) else ():
        for op in ("equals", "in", "not_in", "present"):
            if op in row:
                out.append(
                    Assertion(
                        path=parse_path(row["path"]),
                        path_text=row["path"],
                        op=op,
                        value=row[op],
                        requirements=_ids(row.get("requirements")),
                    )
                )
                break
    return tuple(out)


def _compile_machine(name: str, raw: Mapping[str, Any]) -> Machine:
    table: dict[tuple[str, str], Transition] = {}
    for row in raw["transitions"]:
        tokens = (f"child:{row['child']}",) if "child" in row else _events(row)
        asserts = _assertions(row.get("assert"))
        open_children = _ids(row.get("open_children"))
        transition = Transition(
            to=row.get("to"),
            requirements=_ids(row.get("requirements")),
            asserts=asserts,
            open_children=open_children,
            pure=not asserts and not open_children,
        )
        for state in row["from"]:
            for token in tokens:
                table.setdefault((state, token), transition)
    return Machine(
        name=name,
        initial=raw.get("initial", "start"),
        final=frozenset(raw.get("final", ())),
        table=table,
        violation=_ids(raw.get("violation")),
        state_violation={k: _ids(v) for k, v in raw.get("state_violation", {}).items()},
        by_state=_by_state(table, raw),
    )


def _by_state(
    table: Mapping[tuple[str, str], Transition], raw: Mapping[str, Any]
) -> dict[str, dict[str, Transition]]:
    states = {raw.get("initial", "start"), *raw.get("final", ())}
    for state, _ in table:
        states.add(state)
    for transition in table.values():
        if transition.to is not None:
            states.add(transition.to)
    out: dict[str, dict[str, Transition]] = {state: {} for state in states}
    for (state, token), transition in table.items():
        out[state][token] = transition
    return out


def _compile_ordering(raw: Mapping[str, Any]) -> OrderingRules:
    scopes_raw: Mapping[str, Any] = raw["scopes"]

    def chain(name: str) -> tuple[str, ...]:
        parent = scopes_raw[name].get("parent")
        return (*chain(parent), name) if parent else (name,)

    scopes: dict[str, Scope] = {}
    for name, spec in scopes_raw.items():
        dense = spec.get("dense_index") or {}
        select = spec.get("select")
        scopes[name] = Scope(
            name=name,
            parent=spec.get("parent"),
            key=tuple(spec.get("key", ())),
            opened_by=frozenset(_events(spec["opened_by"])) if "opened_by" in spec else frozenset(),
            select=None if select in (None, "parent") else parse_path(select),
            machines=dict(spec["machines"]),
            dense_field=dense.get("field"),
            dense_requirements=_ids(dense.get("requirements")),
            before_open=_ids(spec.get("before_open")),
            after_close=_ids(spec.get("after_close")),
            concurrent=_ids(spec.get("concurrent")),
            chain=chain(name),
            child_tokens=tuple(f"child:{n}" for n in chain(name)[1:]),
        )
    machines = {name: _compile_machine(name, m) for name, m in raw["machines"].items()}
    inc = raw["incomplete_item"]
    gen = raw["generate_false"]
    return OrderingRules(
        routing=tuple((tuple(r["keys"]), r["scope"]) for r in raw["routing"]),
        scopes=scopes,
        chains={n: tuple(scopes[c] for c in sc.chain) for n, sc in scopes.items()},
        machines=machines,
        incomplete_item=RunCondition(
            requirements=_ids(inc.get("requirements")),
            status=inc.get("status"),
            forbidden_after=_events(inc["no_later"])[0],
            run_ends=_events(inc["run_ends"])[0],
            asserts=(),
        ),
        generate_false=RunCondition(
            requirements=_ids(gen.get("requirements")),
            status=None,
            forbidden_after=_events(gen["no_items"])[0],
            run_ends=_events(gen["run_ends"])[0],
            asserts=_assertions(gen.get("assert")),
        ),
    )


# --- deltas --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SameAs:
    """A place that must hold an equality's value."""

    path: Path
    path_text: str
    skip_absent: bool
    field: str | None  # the path when it is one top-level key (the fast case)


@dataclass(frozen=True, slots=True)
class Equality:
    """One equality of deltas.json."""

    id: str
    requirements: tuple[str, ...]
    key: tuple[str, ...]
    concat_event: str | None
    concat_field: str | None
    value_event: str | None
    value_path: Path
    done_event: str | None
    done_path: Path
    done_path_text: str
    # event type (or "*" / "terminal") -> places
    same_as: Mapping[str, tuple[SameAs, ...]]
    # The values of ``key`` in an event, as a tuple (KeyError when one is absent).
    key_of: KeyOf = field(default=lambda _event: (), compare=False, repr=False)


KeyOf = Callable[[Mapping[str, Any]], tuple[Any, ...]]


def key_getter(names: tuple[str, ...]) -> KeyOf:
    """The values of the fields ``names`` of an event, as a tuple, in one call (KeyError when
    one is absent, as indexing raises)."""
    if not names:
        return lambda _event: ()
    if len(names) == 1:
        one = operator.itemgetter(names[0])
        return lambda event: (one(event),)
    many: KeyOf = operator.itemgetter(*names)
    return many


@dataclass(frozen=True, slots=True)
class Listing:
    """A list that must equal the collected items (E12)."""

    id: str
    requirements: tuple[str, ...]
    collect_event: str
    collect_path: Path
    order_by: str
    equals_path: Path
    equals_path_text: str


@dataclass(frozen=True, slots=True)
class DeltaRules:
    """deltas.json, compiled and indexed by event type."""

    terminal: frozenset[str]
    equalities: tuple[Equality, ...]
    listings: tuple[Listing, ...]
    star: tuple[Equality, ...]  # equalities with a same_as on every event
    collect_by_event: Mapping[str, tuple[Listing, ...]]
    # The hot path: per event type, the equalities it feeds (concat, value or done) and the
    # places it must match (terminal places merged in for terminal events).
    sources: Mapping[str, tuple[Equality, ...]]
    places: Mapping[str, tuple[tuple[Equality, tuple[SameAs, ...]], ...]]
    # The event types whose only part in the equalities is a delta to concatenate (and the
    # "*" places): per type, the fields naming what it touches, read in one call. An executor
    # may reuse what it did for the last such event with the same values of those fields.
    streaming: Mapping[str, KeyOf] = field(default_factory=dict)
    # The names of those fields, per type (what ``streaming`` reads).
    streaming_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _compile_deltas(raw: Mapping[str, Any]) -> DeltaRules:
    terminal = frozenset(_events(raw["terminal"]))
    equalities: list[Equality] = []
    for row in raw["equalities"]:
        same: dict[str, list[SameAs]] = {}
        for place in row.get("same_as", ()):
            path = parse_path(place["path"])
            simple = path[0] if len(path) == 1 and isinstance(path[0], str) else None
            target = SameAs(path, place["path"], place.get("absent") == "skip", simple)
            for event in _events(place):
                same.setdefault(event, []).append(target)
        concat = row.get("concat") or {}
        value = row.get("value") or {}
        done = row.get("done") or {}
        equalities.append(
            Equality(
                id=row["id"],
                requirements=_ids(row.get("requirements")),
                key=tuple(row.get("key", ())),
                key_of=key_getter(tuple(row.get("key", ()))),
                concat_event=concat.get("event"),
                concat_field=concat.get("field"),
                value_event=value.get("event"),
                value_path=parse_path(value.get("path", "")),
                done_event=done.get("event"),
                done_path=parse_path(done.get("path", "")),
                done_path_text=done.get("path", ""),
                same_as={k: tuple(v) for k, v in same.items()},
            )
        )
    star = [eq for eq in equalities if "*" in eq.same_as]
    listings: list[Listing] = []
    collect: dict[str, list[Listing]] = {}
    for row in raw.get("listings", ()):
        listing = Listing(
            id=row["id"],
            requirements=_ids(row.get("requirements")),
            collect_event=row["collect"]["event"],
            collect_path=parse_path(row["collect"]["path"]),
            order_by=row["collect"]["order_by"],
            equals_path=parse_path(row["equals"]["path"]),
            equals_path_text=row["equals"]["path"],
        )
        listings.append(listing)
        collect.setdefault(listing.collect_event, []).append(listing)
    sources: dict[str, list[Equality]] = {}
    places: dict[str, list[tuple[Equality, tuple[SameAs, ...]]]] = {}
    for eq in equalities:
        for source in (eq.concat_event, eq.value_event, eq.done_event):
            if source is not None:
                sources.setdefault(source, []).append(eq)
        for event, targets in eq.same_as.items():
            for name in terminal if event == "terminal" else () if event == "*" else (event,):
                places.setdefault(name, []).append((eq, targets))
    streaming: dict[str, KeyOf] = {}
    streaming_fields: dict[str, tuple[str, ...]] = {}
    star_keys = {k for eq in star for k in eq.key}
    for event, feeds in sources.items():
        if (
            all(eq.concat_event == event for eq in feeds)
            and event not in places
            and event not in collect
            and event not in terminal
        ):
            names = tuple(sorted(star_keys.union(*(eq.key for eq in feeds))))
            streaming[event] = key_getter(names)
            streaming_fields[event] = names
    return DeltaRules(
        streaming=streaming,
        streaming_fields=streaming_fields,
        sources={k: tuple(v) for k, v in sources.items()},
        places={k: tuple(v) for k, v in places.items()},
        terminal=terminal,
        equalities=tuple(equalities),
        listings=tuple(listings),
        star=tuple(star),
        collect_by_event={k: tuple(v) for k, v in collect.items()},
    )


# --- cache, requests, errors ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheRules:
    """cache.json: transitions and predictions, as rows of plain data."""

    transitions: tuple[Mapping[str, Any], ...]
    predictions: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RequestRules:
    """requests.json."""

    stream_id_pattern: re.Pattern[str]
    stream_id_requirements: tuple[str, ...]
    frames: Mapping[str, Mapping[str, Any]]  # frame kind -> row
    deep: Mapping[str, Any] | None  # the 'deep' row (RWS-CREATE-21), when present
    client_events: frozenset[str]
    create: tuple[Mapping[str, Any], ...]
    client: tuple[Mapping[str, Any], ...]
    order_requirements: tuple[str, ...] = ()  # outcome_order (RWS-LANE-9)
    queued_behind_run: Mapping[str, Any] | None = None
    limit_after_runs: tuple[str, ...] = ()  # limit_error_after_runs (RWS-LIMIT-11)
    limit_no_queued_start: tuple[str, ...] = ()  # limit_no_queued_start (RWS-LIMIT-12)
    # the pinging side (c2s, s2c) -> the requirements its pings answered by pongs evaluate
    pings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One code of errors.json."""

    code: str
    status: int | None
    type: str | None
    param: str | None
    param_fixed: bool  # False when the registry says "<the parameter>"
    scope: str
    stream_id: str
    requirements: tuple[str, ...]
    closes: bool = False  # the server closes the connection after this error
    close_code: int | None = None
    # RWS-CACHE-5/13: answering a continuation of its own lane's entry, the error evicts it
    # (True), concerns no entry (False) or may do either ("may", a refusal for load).
    evicts: bool | str = False


@dataclass(frozen=True, slots=True)
class Rules:
    """Every rule table the checker executes."""

    ordering: OrderingRules
    deltas: DeltaRules
    cache: CacheRules
    requests: RequestRules
    errors: Mapping[str, ErrorCode]
    steering_codes: frozenset[str]
    close_codes: frozenset[int]
    # errors.json ``unregistered``: whether a request-scoped error of an unlisted code evicts.
    unregistered_evicts: bool | str = True
    # errors.json ``event_fields``: the fields every error event carries, per requirement
    error_fields: tuple[Mapping[str, Any], ...] = ()
    # errors.json ``private_close_codes``: the range a server may use with documented meaning
    private_close_codes: tuple[int, int] = (0, -1)
    # Per streaming event type (``deltas.streaming``): every field that decides how the
    # ordering machines and the delta equalities take such an event - the routing keys, whose
    # presence picks its scope, and the fields its equalities are keyed by. Two events of a
    # run equal in these fields are taken the same way while no state changed in between.
    streaming_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def evicts(self, code: str) -> bool | str:
        """RWS-CACHE-5/13: whether error ``code`` evicts the entry its request continues."""
        entry = self.errors.get(code)
        return entry.evicts if entry is not None else self.unregistered_evicts


def _load(folder: pathlib.Path, name: str) -> Any:
    with (folder / name).open(encoding="utf-8") as handle:
        return json.load(handle)


def _evicts(value: Any) -> bool | str:
    return value if isinstance(value, bool) or value == "may" else False


def _compile_errors(raw: Mapping[str, Any]) -> dict[str, ErrorCode]:
    out: dict[str, ErrorCode] = {}
    for code, row in raw.get("codes", {}).items():
        param = row.get("param")
        fixed = not (isinstance(param, str) and param.startswith("<"))
        out[code] = ErrorCode(
            code=code,
            status=row.get("status"),
            type=row.get("type"),
            param=param if fixed else None,
            param_fixed=fixed,
            scope=row.get("scope", "request"),
            stream_id=row.get("stream_id", "lane"),
            requirements=_ids(row.get("requirements")),
            closes=row.get("closes") is True,
            close_code=row.get("close_code") if isinstance(row.get("close_code"), int) else None,
            evicts=_evicts(row.get("evicts")),
        )
    return out


def unregistered_evicts(raw: Mapping[str, Any]) -> bool | str:
    """errors.json's ``unregistered.evicts``: a request-scoped error of a code it does not list."""
    row = raw.get("unregistered")
    return _evicts(row.get("evicts")) if isinstance(row, Mapping) else False


def load_rules(schemas_dir: pathlib.Path | None = None) -> Rules:
    """Load and compile every rule table (default: the project's ``schemas/rules/``)."""
    if schemas_dir is None:
        return _default_rules()
    return _load_rules(schemas_dir / "rules")


@cache
def _default_rules() -> Rules:
    return _load_rules(_paths.schemas_dir() / "rules")


def _load_rules(folder: pathlib.Path) -> Rules:
    requests = _load(folder, "requests.json")
    errors = _load(folder, "errors.json")
    cache_raw = _load(folder, "cache.json")
    ordering = _compile_ordering(_load(folder, "ordering.json"))
    deltas = _compile_deltas(_load(folder, "deltas.json"))
    routing = {k for keys, _scope in ordering.routing for k in keys}
    return Rules(
        ordering=ordering,
        deltas=deltas,
        streaming_fields={
            etype: tuple(sorted(routing.union(names)))
            for etype, names in deltas.streaming_fields.items()
        },
        cache=CacheRules(
            transitions=tuple(cache_raw["transitions"]),
            predictions=tuple(cache_raw["predictions"]),
        ),
        requests=RequestRules(
            stream_id_pattern=re.compile(requests["stream_id"]["pattern"]),
            stream_id_requirements=_ids(requests["stream_id"].get("requirements")),
            frames={row["frame"]: row for row in requests["frames"]},
            deep=requests.get("deep"),
            client_events=frozenset(_events(requests["client_events"])),
            create=tuple(requests["create"]),
            client=tuple(requests["client"]),
            order_requirements=_ids(requests.get("outcome_order", {}).get("requirements")),
            queued_behind_run=requests.get("outcome_order", {}).get("queued_behind_run"),
            limit_after_runs=_ids(requests.get("limit_error_after_runs", {}).get("requirements")),
            limit_no_queued_start=_ids(
                requests.get("limit_no_queued_start", {}).get("requirements")
            ),
            pings={str(row["from"]): _ids(row.get("requirements")) for row in requests["pings"]},
        ),
        errors=_compile_errors(errors),
        steering_codes=frozenset(errors.get("steering_codes", {})),
        close_codes=frozenset(int(c) for c in errors.get("close_codes", {}) if str(c).isdigit()),
        unregistered_evicts=unregistered_evicts(errors),
        error_fields=tuple(errors.get("event_fields", ())),
        private_close_codes=(
            int(errors.get("private_close_codes", {}).get("from", 0)),
            int(errors.get("private_close_codes", {}).get("to", -1)),
        ),
    )

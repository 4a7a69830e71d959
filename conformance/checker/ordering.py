"""Execute the ordering grammar (``schemas/rules/ordering.json``) on the events of one run.

Each event is routed to a scope by the index keys it carries; the scope instance for its key
runs the machine chosen when the scope was opened. The enclosing scopes see the event as
``child:<scope>``. A missing transition is a finding and leaves the state unchanged (as in
h11), so one bad event yields one finding rather than a cascade.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from conformance.checker.rules import MISSING, Machine, OrderingRules, Scope, Transition, resolve

__all__ = ["RunOrdering", "Sink"]


class Sink(Protocol):
    """Where the executors send what they evaluated and what they found."""

    def exercise(self, requirements: tuple[str, ...]) -> None:
        """Count one evaluation of each requirement."""

    def fail(self, requirements: tuple[str, ...], message: str) -> None:
        """Report a deviation."""


class _Direct:
    """A sink whose ``exercise`` is the recorder's own (one call less on the hot path)."""

    __slots__ = ("exercise", "fail")

    def __init__(self, sink: Sink, exercise: Callable[[tuple[str, ...]], None] | None) -> None:
        self.exercise = exercise or sink.exercise
        self.fail = sink.fail


def _hashable(value: Any) -> Any:
    return value if isinstance(value, int | str) or value is None else repr(value)


def short(value: Any, limit: int = 80) -> str:
    """A value for a message, cut to ``limit`` characters."""
    if value is MISSING:
        return "absent"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Instance:
    """One running machine: the response, an item, a part."""

    __slots__ = ("children", "counts", "machine", "names", "scope", "selected", "state", "values")

    def __init__(
        self,
        machine: Machine,
        selected: Any,
        scope: str,
        names: tuple[str, ...] = (),
        values: tuple[Any, ...] = (),
    ) -> None:
        self.machine = machine
        self.state = machine.initial
        self.selected = selected
        self.scope = scope
        # The index fields naming the instance and their values: its label is only written
        # out for a finding, so it is not made for every instance.
        self.names = names
        self.values = values
        self.children: list[_Instance] = []
        self.counts: dict[str, int] = {}

    @property
    def label(self) -> str:
        """``item output_index=0``; ``run`` for the response."""
        if not self.names:
            return self.scope
        return f"{self.scope} {_values_label(self.names, self.values)}"


class RunOrdering:
    """The ordering machines of one run."""

    __slots__ = (
        "_final",
        "_instances",
        "_memo",
        "_plans",
        "_response",
        "_rules",
        "_sink",
        "_unopened",
        "ended",
        "version",
    )

    def __init__(
        self,
        rules: OrderingRules,
        sink: Sink,
        exercise: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self._rules = rules
        self._sink = _Direct(sink, exercise)
        self._response = _Instance(
            rules.machines[rules.scopes["response"].machines["*"]], None, "run"
        )
        self._final = self._response.machine.final
        self._instances: dict[tuple[Any, ...], _Instance] = {}
        self._memo: dict[tuple[Any, ...], tuple[_Instance, ...]] = {}
        self._unopened: set[tuple[Any, ...]] = set()
        # (event type, scope, index values) -> the requirements its transitions evaluate,
        # for an event whose transitions change no state (a delta in a streaming part).
        # Valid while no machine of the run changes state: every change empties it.
        self._plans: dict[tuple[Any, ...], tuple[str, ...]] = {}
        #: Whether the response machine reached a final state.
        self.ended = False
        #: Counts the state changes: a plan :meth:`feed` returned holds while it is unchanged.
        self.version = 0

    @property
    def state(self) -> str:
        """The state of the response machine."""
        return self._response.state

    def feed(self, event: Mapping[str, Any], etype: str) -> tuple[str, ...] | None:
        """Run one event of the run through the machines of its scope and of the enclosing ones.

        Returns the requirements it evaluated when its transitions changed no state (an event
        equal to it in its scope and index fields evaluates the same while :attr:`version` is
        unchanged), else None."""
        rules = self._rules
        target = rules.scopes[rules.route(event)]
        memo_key = (target.name, *map(event.get, target.key))
        plan_key = (etype, *memo_key)
        try:
            plan = self._plans.get(plan_key)
            hashable = True
        except TypeError:  # an index that is a list or an object: no plan, no memo
            plan = None
            hashable = False
        if plan is not None:
            # The same transitions as the last event like it, none of which changes a state.
            self._sink.exercise(plan)
            return plan
        exercise = self._sink.exercise
        last = len(target.chain) - 1
        # Consecutive events of one part (deltas) find the same instances: remember them.
        chain = self._memo.get(memo_key) if hashable else None
        if chain is None:
            chain = self._chain(event, etype, target)
            if chain is None:
                return None
            if hashable and len(chain) == last + 1:
                self._memo = {memo_key: chain}
        # What this event evaluates, when every transition is pure and changes no state.
        evaluated: list[tuple[str, ...]] | None = [] if len(chain) == last + 1 else None
        changed = False
        depth = 0
        while depth <= last:
            if depth == len(chain):
                # This event opens its own scope (the parent accepted it above).
                opened = self._open_next(event, target, depth, chain[-1])
                chain = (*chain, opened)
                changed = True
            instance = chain[depth]
            token = etype if depth == last else target.child_tokens[depth]
            # Most events take a transition without assertions: take it inline.
            table = instance.machine.by_state[instance.state]
            transition = table.get(token)
            if transition is None and depth == last:
                transition = table.get("*")
            if transition is not None and transition.pure:
                exercise(transition.requirements)
                if evaluated is not None:
                    evaluated.append(transition.requirements)
                to = transition.to
                if to is not None and to != instance.state:
                    instance.state = to
                    changed = True
            else:
                evaluated = None
                before = instance.state
                ok = self._step(instance, token, etype, event, rules.chains[target.name][depth])
                changed = changed or instance.state != before
                if not ok:
                    break
            depth += 1
        if changed:
            self._plans.clear()
            self.version += 1
            self.ended = self._response.state in self._final
        elif evaluated is not None and hashable:
            plan = self._plans[plan_key] = sum(evaluated, ())
            return plan
        return None

    def _chain(
        self, event: Mapping[str, Any], etype: str, target: Scope
    ) -> tuple[_Instance, ...] | None:
        """The instances from the response down to the event's scope (the last one may be
        missing when this event opens it); None after reporting an event before its opener."""
        chain: list[_Instance] = [self._response]
        scopes = self._rules.chains[target.name]
        for depth, scope in enumerate(scopes[1:], start=1):
            key = self._key(scope, event)
            instance = self._instances.get(key)
            if instance is None:
                if depth != len(scopes) - 1 or etype not in scope.opened_by:
                    # One finding per unopened scope: its further events add nothing new.
                    self._sink.exercise(scope.before_open)
                    if key in self._unopened:
                        return None
                    self._unopened.add(key)
                    self._sink.fail(
                        scope.before_open,
                        f"expected {' or '.join(sorted(scope.opened_by))} before any other "
                        f"event of {scope.name} {_label(scope, event)} / actual {etype} first",
                    )
                    return None
                break
            chain.append(instance)
        return tuple(chain)

    def _open_next(
        self, event: Mapping[str, Any], target: Scope, depth: int, parent: _Instance
    ) -> _Instance:
        scope = self._rules.chains[target.name][depth]
        return self._open(scope, parent, event, self._key(scope, event))

    @staticmethod
    def _key(scope: Scope, event: Mapping[str, Any]) -> tuple[Any, ...]:
        key = (scope.name, *map(event.get, scope.key))
        try:
            hash(key)
        except TypeError:  # an index that is a list or an object
            key = (scope.name, *(_hashable(event.get(k)) for k in scope.key))
        return key

    def _open(
        self, scope: Scope, parent: _Instance, event: Mapping[str, Any], key: tuple[Any, ...]
    ) -> _Instance:
        rules = self._rules
        selected = parent.selected if scope.select is None else resolve(event, scope.select)
        name = scope.machines.get(selected) if isinstance(selected, str) else None
        machine = rules.machines[name or scope.machines["*"]]
        names = scope.key
        values = tuple([event.get(k, MISSING) for k in names])
        instance = _Instance(machine, selected, scope.name, names, values)
        if scope.dense_field is not None:
            # RWS-ORDER-7: indexes are assigned 0, 1, 2, ... in the order scopes are opened.
            expected = parent.counts.get(scope.name, 0)
            actual = event.get(scope.dense_field)
            self._sink.exercise(scope.dense_requirements)
            if actual != expected or isinstance(actual, bool):
                self._sink.fail(
                    scope.dense_requirements,
                    f"expected {scope.dense_field} {expected} for the next {scope.name} / "
                    f"actual {short(actual)}",
                )
        if scope.concurrent:
            # RWS-ORDER-10 (MAY): several items open at once; observed and reported as data.
            open_siblings = [
                c.label
                for c in parent.children
                if c.scope == scope.name and c.state not in c.machine.final
            ]
            if open_siblings:
                self._sink.fail(
                    scope.concurrent,
                    f"observed {instance.label} opened while {', '.join(open_siblings)} still open",
                )
        parent.counts[scope.name] = parent.counts.get(scope.name, 0) + 1
        parent.children.append(instance)
        self._instances[key] = instance
        return instance

    def _step(
        self, instance: _Instance, token: str, etype: str, event: Mapping[str, Any], scope: Scope
    ) -> bool:
        machine = instance.machine
        table = machine.table
        transition: Transition | None = table.get((instance.state, token))
        if transition is None and not token.startswith("child:"):
            transition = table.get((instance.state, "*"))
        if transition is None:
            if instance.state in machine.final and scope.after_close:
                requirements = scope.after_close
            else:
                requirements = machine.state_violation.get(instance.state, machine.violation)
            what = etype if token == etype else f"{etype} (an event of a {token[6:]})"
            self._sink.fail(
                requirements,
                f"expected one of {_expected(machine, instance.state)} in {instance.label} "
                f"({machine.name}, state {instance.state}) / actual {what}",
            )
            return False
        self._sink.exercise(transition.requirements)
        for assertion in transition.asserts:
            self._sink.exercise(assertion.requirements)
            ok, actual = assertion.holds(event)
            if not ok:
                self._sink.fail(
                    assertion.requirements,
                    f"expected {assertion.expected_text()} in {etype} / actual {short(actual)}",
                )
        if transition.open_children:
            self._sink.exercise(transition.open_children)
            still_open = [c.label for c in instance.children if c.state not in c.machine.final]
            if still_open:
                self._sink.fail(
                    transition.open_children,
                    f"expected every part of {instance.label} finished before {etype} / "
                    f"actual still open: {', '.join(still_open)}",
                )
        if transition.to is not None:
            instance.state = transition.to
        return True


def _label(scope: Scope, event: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={short(event.get(k, MISSING), 20)}" for k in scope.key)


def _values_label(names: tuple[str, ...], values: tuple[Any, ...]) -> str:
    return ",".join(f"{k}={short(v, 20)}" for k, v in zip(names, values, strict=True))


def _expected(machine: Machine, state: str) -> str:
    tokens = sorted({tok for (st, tok) in machine.table if st == state})
    return "[" + ", ".join(tokens) + "]" if tokens else "[nothing]"

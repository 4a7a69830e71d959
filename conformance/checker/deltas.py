"""Execute the delta equalities (``schemas/rules/deltas.json``) on the events of one run.

Per equality and key, the executor keeps the concatenated deltas (or the single source value)
and, once the done event arrived, the done value; every ``same_as`` place is compared with that
value when its event arrives. Listings (E12) collect the done items and compare the terminal
response's ``output`` with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from conformance.checker.ordering import Sink, _Direct, short
from conformance.checker.rules import MISSING, DeltaRules, Equality, SameAs, resolve

__all__ = ["DeltaPlan", "RunDeltas"]


class _Acc:
    __slots__ = ("done", "parts", "value")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.value: Any = MISSING
        self.done: Any = MISSING

    def expected(self, concat: bool) -> Any:
        if self.done is not MISSING:
            return self.done
        return "".join(self.parts) if concat else self.value


class DeltaPlan(NamedTuple):
    """What a streaming event did: the deltas it extended (the list and the field of the
    event holding its delta) and the accounts its "*" places were compared with."""

    extend: tuple[tuple[list[str], str], ...]
    compare: tuple[tuple[Equality, _Acc, tuple[Any, ...]], ...]


class RunDeltas:
    """The delta equalities of one run."""

    __slots__ = ("_acc", "_collected", "_plans", "_rules", "_sink", "version")

    def __init__(
        self,
        rules: DeltaRules,
        sink: Sink,
        exercise: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self._rules = rules
        self._sink = _Direct(sink, exercise)
        self._acc: dict[str, dict[tuple[Any, ...], _Acc]] = {}
        self._collected: dict[str, dict[Any, Any]] = {}
        # (event type, the values of the fields it is keyed by) -> what feed() did for the
        # last such streaming event: the deltas to extend and the "*" places to compare.
        # Valid while no value is added to the accounts: every new one empties it.
        self._plans: dict[tuple[Any, ...], DeltaPlan] = {}
        #: Counts the new accounts: a plan :meth:`feed` returned holds while it is unchanged.
        self.version = 0

    def feed(self, event: Mapping[str, Any], etype: str) -> DeltaPlan | None:
        """Account for one event of the run.

        For a streaming event, returns what it did (:meth:`replay` does the same for an event
        equal to it in the fields ``streaming`` reads, while :attr:`version` is unchanged);
        else None."""
        rules = self._rules
        keyed = rules.streaming.get(etype)
        plan_key: tuple[Any, ...] | None = None
        if keyed is not None:
            try:
                plan_key = (etype, *keyed(event))
                plan = self._plans.get(plan_key)
            except (KeyError, TypeError):  # a key field absent, or a list/object
                plan_key = plan = None
            if plan is not None:
                self.replay(plan, event, etype)
                return plan
        accounts = self._acc
        sources = rules.sources.get(etype)
        if sources is not None:
            for eq in sources:
                self._source(eq, event, etype)
        places = rules.places.get(etype)
        if places is not None:
            for eq, targets in places:
                accs = accounts.get(eq.id)
                if accs:
                    self._compare(eq, accs, event, etype, targets)
        compared: list[tuple[Equality, _Acc, tuple[Any, ...]]] = []
        for eq in rules.star:
            # "*" places apply to the events that carry the whole key (every item event).
            accs = accounts.get(eq.id)
            if not accs:
                continue
            try:
                key = eq.key_of(event)
                found = accs.get(key)
            except (KeyError, TypeError):
                continue
            if found is not None:
                compared.append((eq, found, key))
                self._check(eq, found, key, event, etype, eq.same_as["*"])
        collect = rules.collect_by_event.get(etype)
        if collect:
            for listing in collect:
                item = resolve(event, listing.collect_path)
                order = _key(event.get(listing.order_by))
                self._collected.setdefault(listing.id, {})[order] = item
        if etype in rules.terminal:
            self._listings(event, etype)
        if plan_key is not None and sources is not None:
            extend = []
            for eq in sources:
                account = accounts.get(eq.id, {}).get(eq.key_of(event))
                if account is not None:
                    extend.append((account.parts, eq.concat_field or "delta"))
            plan = self._plans[plan_key] = DeltaPlan(tuple(extend), tuple(compared))
            return plan
        return None

    def replay(self, plan: DeltaPlan, event: Mapping[str, Any], etype: str) -> None:
        """Do for a streaming event what ``plan`` says the last one like it did."""
        for parts, name in plan.extend:
            delta = event.get(name)
            if isinstance(delta, str):
                parts.append(delta)
        for eq, acc, key in plan.compare:
            self._check(eq, acc, key, event, etype, eq.same_as["*"])

    def _source(self, eq: Equality, event: Mapping[str, Any], etype: str) -> None:
        try:
            key = eq.key_of(event)
            accs = self._acc.get(eq.id)
            if accs is None:
                accs = self._acc[eq.id] = {}
            acc = accs.get(key)
        except (KeyError, TypeError):  # a key field absent, or a list/object
            return
        if acc is None:
            acc = accs[key] = _Acc()
            self._plans.clear()  # a new account: what a plan compares may have changed
            self.version += 1
        if etype == eq.concat_event:
            delta = event.get(eq.concat_field or "delta")
            if isinstance(delta, str):
                acc.parts.append(delta)
        elif etype == eq.value_event:
            acc.value = resolve(event, eq.value_path)
        else:
            done = resolve(event, eq.done_path)
            expected = "".join(acc.parts)
            self._sink.exercise(eq.requirements)
            if done != expected:
                self._sink.fail(
                    eq.requirements,
                    f"expected {etype}.{eq.done_path_text} = the concatenated deltas "
                    f"{short(expected)} / actual {short(done)} ({eq.id}, {_fmt(eq.key, key)})",
                )
            acc.done = done

    def _compare(
        self,
        eq: Equality,
        accs: dict[tuple[Any, ...], _Acc],
        event: Mapping[str, Any],
        etype: str,
        places: tuple[SameAs, ...],
    ) -> None:
        # Match on the key fields this event carries; substitute the others from the key.
        try:
            exact = eq.key_of(event)
            acc = accs.get(exact)
        except (KeyError, TypeError):
            carried = [(i, _key(event[k])) for i, k in enumerate(eq.key) if k in event]
            for key, candidate in list(accs.items()):
                if all(key[i] == v for i, v in carried):
                    self._check(eq, candidate, key, event, etype, places)
            return
        if acc is not None:
            self._check(eq, acc, exact, event, etype, places)

    def _check(
        self,
        eq: Equality,
        acc: _Acc,
        key: tuple[Any, ...],
        event: Mapping[str, Any],
        etype: str,
        places: tuple[SameAs, ...],
    ) -> None:
        expected = acc.done
        if expected is MISSING:
            expected = "".join(acc.parts) if eq.concat_event is not None else acc.value
            if expected is MISSING:
                return
        for place in places:
            step = place.field
            if step is not None:
                actual = event.get(step, MISSING)
            else:
                actual = resolve(event, place.path, dict(zip(eq.key, key, strict=True)))
            if actual is MISSING and place.skip_absent:
                continue
            self._sink.exercise(eq.requirements)
            if actual is MISSING or actual != expected:
                where = place.path_text.format(**dict(zip(eq.key, key, strict=True)))
                self._sink.fail(
                    eq.requirements,
                    f"expected {etype}.{where} = {short(expected)} / actual {short(actual)} "
                    f"({eq.id}, {_fmt(eq.key, key)})",
                )

    def _listings(self, event: Mapping[str, Any], etype: str) -> None:
        for listing in self._rules.listings:
            collected = self._collected.get(listing.id, {})
            ordered = [collected[k] for k in sorted(collected, key=_order)]
            actual = resolve(event, listing.equals_path)
            self._sink.exercise(listing.requirements)
            if actual != ordered:
                count = len(actual) if isinstance(actual, list) else short(actual)
                self._sink.fail(
                    listing.requirements,
                    f"expected {etype}.{listing.equals_path_text} to list the {len(ordered)} "
                    f"items of response.output_item.done in output_index order / actual "
                    f"{count} items{_first_difference(ordered, actual)}",
                )


def _key(value: Any) -> Any:
    return value if isinstance(value, int | str) or value is MISSING else repr(value)


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def _fmt(names: tuple[str, ...], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, key, strict=True)) or "run"


def _first_difference(expected: list[Any], actual: Any) -> str:
    if not isinstance(actual, list):
        return ""
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            return f"; first difference at index {i}: expected {short(a)} / actual {short(b)}"
    return ""

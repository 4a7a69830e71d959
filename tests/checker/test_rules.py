"""The rule tables themselves: complete, consistent, and covering the event catalogue."""

from __future__ import annotations

from conformance.checker.rules import load_rules
from conformance.schemas import server_event_types

__all__: list[str] = []

RULES = load_rules()


def test_every_scope_names_existing_machines() -> None:
    """Scopes select only machines the table defines, and each has a '*' fallback."""
    for scope in RULES.ordering.scopes.values():
        assert "*" in scope.machines, scope.name
        for machine in scope.machines.values():
            assert machine in RULES.ordering.machines, (scope.name, machine)


def test_every_machine_can_reach_a_final_state() -> None:
    """From every state a machine can enter, some path leads to a final state."""
    for machine in RULES.ordering.machines.values():
        edges: dict[str, set[str]] = {}
        for (state, _), transition in machine.table.items():
            edges.setdefault(state, set()).add(transition.to or state)
        done = set(machine.final)
        changed = True
        while changed:
            changed = False
            for state, targets in edges.items():
                if state not in done and targets & done:
                    done.add(state)
                    changed = True
        assert set(edges) <= done, (machine.name, set(edges) - done)


def test_every_run_event_type_has_a_transition() -> None:
    """Each server event type of a run appears in some machine (the grammar covers the
    catalogue); only steering events outside a run and errors are handled elsewhere."""
    used = {token for m in RULES.ordering.machines.values() for (_, token) in m.table}
    expected = server_event_types() - {"response.steer.pending"}
    assert expected - used == set()


def test_routing_ends_with_the_response_scope() -> None:
    """An event without index keys belongs to the response."""
    assert RULES.ordering.routing[-1] == ((), "response")
    assert RULES.ordering.route({"type": "response.audio.delta"}) == "response"
    assert RULES.ordering.route({"output_index": 0, "content_index": 1}) == "part"


def test_every_equality_event_is_a_server_event() -> None:
    """deltas.json names only server events (besides '*' and 'terminal')."""
    known = server_event_types()
    for eq in RULES.deltas.equalities:
        for event in (eq.concat_event, eq.value_event, eq.done_event):
            assert event is None or event in known, (eq.id, event)
        assert set(eq.same_as) - {"*", "terminal"} <= known, eq.id


def test_cache_predictions_end_with_a_catch_all() -> None:
    """Every continuation gets a prediction: the last row matches anything."""
    assert RULES.cache.predictions[-1]["when"] == {}
    assert {row["expect"] for row in RULES.cache.predictions} == {"served", "error", "open"}

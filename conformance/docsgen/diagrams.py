"""State diagrams and rule tables, generated from ``schemas/rules/*.json``.

The rule tables are what the conformance checker executes, so the pictures are drawn from
them rather than by hand (h11 draws its state diagram from its transition table the same
way): ``ordering.json`` becomes one Mermaid ``stateDiagram-v2`` per machine plus its
transition table, ``cache.json`` becomes the life of one lane's cache entry plus the
prediction table, ``deltas.json`` becomes the table of delta equalities. Every requirement
a transition carries is linked to the requirement index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.docsgen._markdown import banner, breakable_code, code, relative_link, table

__all__ = [
    "CACHE_PAGE",
    "DELTAS_PAGE",
    "DIAGRAM_INIT",
    "GROUP_ID",
    "ORDERING_PAGE",
    "diagram_pages",
]

#: Mermaid's init directive for the state machines: scaled down to the column when wider.
#: Since the states that share their exits are drawn as one group, the widest machine
#: (response) is within a sixth of the column, so its labels stay readable when scaled.
DIAGRAM_INIT = '%%{init: {"state": {"useMaxWidth": true}}}%%'

ORDERING_PAGE = "diagrams/ordering.md"
CACHE_PAGE = "diagrams/cache.md"
DELTAS_PAGE = "diagrams/deltas.md"
_REQUIREMENTS = "requirements.md"
_PREFIX = "response."


def _load(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / "schemas" / "rules" / name).read_text(encoding="utf-8")
    )
    return data


def _reqs(page: str, ids: Sequence[str]) -> str:
    return ", ".join(f"[{r}]({relative_link(page, _REQUIREMENTS, r.lower())})" for r in ids)


def _state_id(name: str) -> str:
    # Mermaid keywords (end, state, note...) cannot be state ids: prefix every id.
    return "s_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _short(event: str) -> str:
    return event.removeprefix(_PREFIX) if event != "*" else "any event"


def _label(transition: Mapping[str, Any]) -> str:
    if "child" in transition:
        return f"{transition['child']} events"
    events = transition.get("events") or [transition.get("event", "?")]
    return ", ".join(_short(str(e)) for e in events)


def _compact(labels: Sequence[str]) -> str:
    """An arrow's label, short enough to draw: event names that share their first segment
    (``audio.delta``, ``audio.transcript.done``) become one family (``audio events``). The table
    below each diagram lists every event of every transition."""
    names = [n.strip() for label in labels for n in label.split(",")]
    families: dict[str, int] = {}
    for name in names:
        if "." in name:
            families[name.split(".", 1)[0]] = families.get(name.split(".", 1)[0], 0) + 1
    out: list[str] = []
    for name in names:
        family = name.split(".", 1)[0]
        # "events", not "family.*": Mermaid reads two asterisks on a label as emphasis
        shown = f"{family} events" if "." in name and families[family] > 1 else name
        if shown not in out:
            out.append(shown)
    return ", ".join(out)


#: The composite state that stands for a group of states sharing their exits.
GROUP_ID = "s_group"


def _shared_exits(edges: Mapping[tuple[str, str], str], final: Sequence[str]) -> tuple[str, ...]:
    """The largest set of three or more states that leave to two or more other states the
    same ways (``response``: created, queued, in_progress and body all end on completed,
    incomplete or failed, and all go erroring on error). Drawn as one composite state with
    one arrow per exit, instead of one arrow per state and exit, each crossing the others."""
    by_exit: dict[tuple[str, str], set[str]] = {}
    for (source, target), label in edges.items():
        if source != target:
            by_exit.setdefault((target, label), set()).add(source)
    counts: dict[frozenset[str], int] = {}
    for sources in by_exit.values():
        if len(sources) >= 3:
            counts[frozenset(sources)] = counts.get(frozenset(sources), 0) + 1
    shared = [g for g, n in counts.items() if n >= 2 and not g & set(final)]
    if not shared:
        return ()
    best = max(shared, key=lambda g: (counts[g], len(g)))
    return tuple(sorted(best))


def _machine_diagram(machine: Mapping[str, Any]) -> str:
    states: list[str] = [str(machine["initial"])]
    for t in machine.get("transitions", []):
        for s in [*t.get("from", []), t.get("to")]:
            if s and s not in states:
                states.append(str(s))
    # One arrow per pair of states, labelled with every way of taking it.
    ways: dict[tuple[str, str], list[str]] = {}
    for t in machine.get("transitions", []):
        for source in t.get("from", []):
            target = t.get("to") or source  # no "to": the state does not change
            labels = ways.setdefault((source, target), [])
            if _label(t) not in labels:
                labels.append(_label(t))
    edges = {pair: _compact(labels) for pair, labels in ways.items()}
    shared = _shared_exits(edges, [str(f) for f in machine.get("final", [])])
    group = tuple(s for s in states if s in shared)
    # Top to bottom: the content column is narrow, and a left-to-right drawing of a long
    # machine would be scaled down until its labels are unreadable.
    lines = ["```mermaid", DIAGRAM_INIT, "stateDiagram-v2"]
    lines.extend(f'    state "{s}" as {_state_id(s)}' for s in states if s not in group)
    if group:
        # What every grouped state accepts without changing goes in the group's title, not
        # in a loop on each state (response: steering replies, at any point of a run).
        loops = [edges.get((g, g), "").split(", ") for g in group]
        kept = [part for part in loops[0] if part and all(part in other for other in loops)]
        for g in group:
            rest = [p for p in edges.get((g, g), "").split(", ") if p and p not in kept]
            if (g, g) in edges:
                if rest:
                    edges[(g, g)] = ", ".join(rest)
                else:
                    del edges[(g, g)]
        title = f"any of {', '.join(group)}" + (
            f" ({', '.join(kept)} keep the state)" if kept else ""
        )
        lines.append(f'    state "{title}" as {GROUP_ID} {{')
        lines.extend(f'        state "{s}" as {_state_id(s)}' for s in states if s in group)
        # the arrows between the grouped states are drawn inside the group
        lines.extend(
            f"        {_state_id(a)} --> {_state_id(b)}: {label}"
            for (a, b), label in edges.items()
            if a in group and b in group
        )
        lines.append("    }")
    lines.append(f"    [*] --> {_state_id(str(machine['initial']))}")
    drawn: set[tuple[str, str]] = set()
    for (source, target), label in edges.items():
        if source in group and target in group:
            continue
        if source in group and all(edges.get((g, target)) == label for g in group):
            if (GROUP_ID, target) not in drawn:
                drawn.add((GROUP_ID, target))
                lines.append(f"    {GROUP_ID} --> {_state_id(target)}: {label}")
            continue
        lines.append(f"    {_state_id(source)} --> {_state_id(target)}: {label}")
    lines.extend(f"    {_state_id(s)} --> [*]" for s in machine.get("final", []))
    lines.append("```")
    return "\n".join(lines) + "\n"


def _asserts(page: str, transition: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for a in transition.get("assert", []):
        path = code(str(a.get("path")))
        if "equals" in a:
            what = f"{path} = {code(json.dumps(a['equals']))}"
        elif "in" in a:
            what = f"{path} in {code(json.dumps(a['in']))}"
        elif "not_in" in a:
            what = f"{path} not in {code(json.dumps(a['not_in']))}"
        elif a.get("present"):
            what = f"{path} present"
        else:
            what = f"{path} {code(json.dumps({k: v for k, v in a.items() if k != 'path'}))}"
        parts.append(f"{what} ({_reqs(page, a.get('requirements', []))})")
    if transition.get("open_children"):
        parts.append("no child scope still open (" + _reqs(page, transition["open_children"]) + ")")
    return "; ".join(parts)


def ordering_page(root: Path) -> str:
    """The ordering grammar: routing, scopes and one diagram per machine."""
    page = ORDERING_PAGE
    rules = _load(root, "ordering.json")
    out = [banner("schemas/rules/ordering.json")]
    out.append("# Ordering state machines\n")
    out.append(
        "The ordering grammar of one run ([RWS-ORDER-4]("
        + relative_link(page, "spec/ordering.md", "rws-order-4")
        + ")) as the state machines the conformance checker executes, drawn from "
        "`schemas/rules/ordering.json`. For order, the rule tables are authoritative "
        f"([which artefact wins]({relative_link(page, 'spec/index.md', 'authority')})). "
        "Event names are shown without their `response.` prefix.\n"
    )
    out.append("## How events are routed\n")
    out.append(
        "Each event of a run goes to a *scope* chosen by the index keys it carries (first "
        "match wins). Each scope instance runs one machine, chosen by a value of the event "
        "that opens it; an event is also fed to the machines of the enclosing scopes, where "
        "the diagrams call it an *item event*, *part event* and so on.\n"
    )
    out.append(
        table(
            ["Event carries", "Scope"],
            [
                [", ".join(code(k) for k in r["keys"]) or "no index", code(r["scope"])]
                for r in rules.get("routing", [])
            ],
        )
    )
    # One row per scope, four columns: the six facts of a scope in six columns made the table
    # wider than the page. The parent goes with the scope's name, the selector with its
    # machines.
    rows = []
    for name, scope in rules.get("scopes", {}).items():
        opened = ", ".join(
            code(_short(e)) for e in (scope.get("opened_by") or {}).get("events", [])
        )
        named = [m for v, m in scope.get("machines", {}).items() if v == m]
        mapped = [(v, m) for v, m in scope.get("machines", {}).items() if v != m]
        choices = [f"[{code(m)}](#machine-{m})" for m in named]
        choices += [
            f"{'any other' if v == '*' else code(v)} → [{code(m)}](#machine-{m})" for v, m in mapped
        ]
        select = scope.get("select")
        if not select:  # one machine for every instance: nothing to choose by
            choices = [f"[{code(m)}](#machine-{m})" for m in scope.get("machines", {}).values()]
        machines = (f"by {code(str(select))}: " if select else "") + ", ".join(choices)
        dense = scope.get("dense_index")
        parent = scope.get("parent")
        rows.append(
            [
                code(name) + (f" in {code(parent)}" if parent else ""),
                opened or "the run",
                machines,
                f"{code(dense['field'])} dense ({_reqs(page, dense['requirements'])})"
                if dense
                else "",
            ]
        )
    out.append(table(["Scope", "Opened by", "Machine", "Index"], rows))
    for extra in ("incomplete_item", "generate_false"):
        rule = rules.get(extra)
        if isinstance(rule, Mapping):
            out.append(
                f"**{extra.replace('_', ' ')}** ({_reqs(page, rule.get('requirements', []))}): "
                f"{rule.get('$comment', '')}\n"
            )

    out.append("## Machines\n")
    for name, machine in rules.get("machines", {}).items():
        out.append(f"### {name} {{#machine-{name}}}\n")
        if machine.get("$comment"):
            out.append(str(machine["$comment"]) + "\n")
        out.append(_machine_diagram(machine))
        violations = machine.get("violation", [])
        state_violations = machine.get("state_violation", {})
        note = f"An event no transition accepts breaks {_reqs(page, violations)}"
        if state_violations:
            note += "; in " + ", ".join(
                f"{code(s)}: {_reqs(page, ids)}" for s, ids in state_violations.items()
            )
        out.append(note + ".\n")
        rows = [
            [
                ", ".join(code(s) for s in t.get("from", [])),
                _label(t),
                code(t["to"]) if t.get("to") else "(unchanged)",
                _reqs(page, t.get("requirements", [])),
                _asserts(page, t),
            ]
            for t in machine.get("transitions", [])
        ]
        out.append(table(["From", "On", "To", "Requirements", "The event must carry"], rows))
    return "\n".join(out)


# How each cache effect moves one lane's entry; the table's effects are the source of truth,
# this only says where to draw them (an unknown effect fails generation loudly).
_EFFECT_MOVES: dict[str, list[tuple[str, str]]] = {
    "set_entry": [("empty", "cached"), ("cached", "cached")],
    "evict": [("cached", "empty")],
    # RWS-CACHE-13: the server may keep the entry or evict it; the checker stops predicting.
    "forget": [("cached", "empty"), ("cached", "cached")],
    "keep": [("empty", "empty"), ("cached", "cached")],
    "clear": [("empty", "[*]"), ("cached", "[*]")],
}


def _condition(transition: Mapping[str, Any]) -> str:
    parts = [str(transition["on"]).replace("_", " ")]
    if transition.get("status"):
        parts.append("/".join(transition["status"]))
    if transition.get("request"):
        parts.append(" ".join(f"{k}={json.dumps(v)}" for k, v in transition["request"].items()))
    if transition.get("continues"):
        parts.append("continuing " + str(transition["continues"]).replace("_", " "))
    if "evicts" in transition:
        parts.append(f"the error's registry entry says evicts={json.dumps(transition['evicts'])}")
    return ", ".join(parts)


def cache_page(root: Path) -> str:
    """The cache lifecycle of one lane, and the predictions for continuations."""
    page = CACHE_PAGE
    rules = _load(root, "cache.json")
    out = [banner("schemas/rules/cache.json")]
    out.append("# Cache lifecycle\n")
    out.append(
        "The connection-scoped cache ([Cache](" + relative_link(page, "spec/cache.md") + ")) "
        "as the conformance checker models it, drawn from `schemas/rules/cache.json`: each "
        "lane of a connection holds at most one entry; run outcomes and request errors set, "
        "keep or evict it (first matching transition wins), and closing the connection "
        "clears every lane.\n"
    )
    out.append("## One lane's entry\n")
    lines = ["```mermaid", "stateDiagram-v2", "    direction LR"]
    lines += ['    state "no entry" as s_empty', '    state "entry = that response" as s_cached']
    lines.append("    [*] --> s_empty")
    # One arrow per pair of states, labelled with the numbers of the transitions (T1, T2...)
    # that take it: the table below says what each one is; long labels would overlap.
    edges: dict[tuple[str, str], list[str]] = {}
    for number, t in enumerate(rules.get("transitions", []), start=1):
        effect = str(t["effect"])
        if effect not in _EFFECT_MOVES:
            raise ValueError(f"cache.json: effect {effect!r} has no drawing")
        for source, target in _EFFECT_MOVES[effect]:
            edges.setdefault((source, target), []).append(f"T{number}")
    for (source, target), numbers in edges.items():
        dest = target if target == "[*]" else f"s_{target}"
        lines.append(f"    s_{source} --> {dest}: {', '.join(numbers)}")
    lines.append("```")
    out.append("\n".join(lines) + "\n")
    rows = [
        [f"T{n}", _condition(t), code(str(t["effect"])), _reqs(page, t.get("requirements", []))]
        for n, t in enumerate(rules.get("transitions", []), start=1)
    ]
    out.append(table(["", "When (first match wins)", "Effect", "Requirements"], rows))
    out.append("## Predictions for a continuation\n")
    out.append(
        "Applied to every `response.create` with a `previous_response_id`, first match wins: "
        "`run` means the server must start a run, `error` that it must answer with the error "
        "code, `open` that the specification leaves the outcome open.\n"
    )
    rows = []
    for p in rules.get("predictions", []):
        conditions = [f"{k} = {json.dumps(v)}" for k, v in p.get("when", {}).items()]
        # D24: a row that applies only under a declared server parameter says so.
        conditions += [
            f"declared {k} = {json.dumps(v)}" for k, v in p.get("parameters", {}).items()
        ]
        when = ", ".join(conditions)
        expect = str(p.get("expect"))
        if p.get("code"):
            expect += " " + code(str(p["code"]))
        rows.append([code(when), expect, _reqs(page, p.get("requirements", []))])
    out.append(table(["The previous response", "Expected", "Requirements"], rows))
    return "\n".join(out)


def _place(place: Mapping[str, Any]) -> str:
    events = place.get("events") or [place.get("event", "?")]
    names = " or ".join("any event" if e == "*" else breakable_code(str(e)) for e in events)
    note = " (when present)" if place.get("absent") == "skip" else ""
    return f"{breakable_code(str(place.get('path')))} of {names}{note}"


def deltas_page(root: Path) -> str:
    """The delta equalities as a table."""
    page = DELTAS_PAGE
    rules = _load(root, "deltas.json")
    out = [banner("schemas/rules/deltas.json")]
    out.append("# Delta equalities\n")
    out.append(
        "What the streamed deltas of a run must add up to ([Delta semantics]("
        + relative_link(page, "spec/deltas.md")
        + ")), as the checker executes it from `schemas/rules/deltas.json`. Each equality "
        "is kept per key; its value (the concatenated deltas, or a value) must equal the done "
        "event's value and every later place listed. *terminal* means "
        + ", ".join(code(e) for e in rules.get("terminal", {}).get("events", []))
        + ".\n"
    )
    rows = []
    for e in rules.get("equalities", []):
        if "concat" in e:
            concat = e["concat"]
            value = f"concatenation of {code(concat['field'])} of {breakable_code(concat['event'])}"
        else:
            v = e.get("value", {})
            value = f"{breakable_code(str(v.get('path')))} of {breakable_code(str(v.get('event')))}"
        done = e.get("done")
        places = [_place(done)] if done else []
        places += [_place(s) for s in e.get("same_as", [])]
        keys = ", ".join(code(k) for k in e.get("key", [])) or "the run"
        rows.append(
            [
                f"{code(str(e.get('id')))}<br>{_reqs(page, e.get('requirements', []))}",
                f"{value}, per {keys}",
                "<br>".join(places),
            ]
        )
    out.append(table(["Equality", "Value", "Must equal"], rows))
    listings = rules.get("listings", [])
    if listings:
        out.append("## Listings\n")
        rows = []
        for item in listings:
            collect = item.get("collect", {})
            rows.append(
                [
                    code(str(item.get("id", ""))),
                    f"{code(str(collect.get('path')))} of every {code(str(collect.get('event')))}"
                    f", ordered by {code(str(collect.get('order_by')))}",
                    _place(item.get("equals", {})),
                    _reqs(page, item.get("requirements", [])),
                ]
            )
        out.append(table(["Id", "Collected", "Must equal", "Requirements"], rows))
    return "\n".join(out)


def diagram_pages(root: Path) -> dict[str, str]:
    """docs-relative path -> text of every page drawn from the rule tables."""
    return {
        ORDERING_PAGE: ordering_page(root),
        CACHE_PAGE: cache_page(root),
        DELTAS_PAGE: deltas_page(root),
    }

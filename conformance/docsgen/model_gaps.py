"""The table of what a model other than ``conformance-1`` leaves untested, and why.

It compares the two recorded runs of the reference server (the scripted model and a model
that behaves like a real one): every server requirement the scripted run tested and the
other run did not is listed under the reason the other run's checks gave for skipping it
("needs the scripted model 'conformance-1'", "profile 'conformance-model' not declared", a
part a check could not reach with that model). The reasons are the run's own words, so the
table is what a server running its own model will see in its report, grouped by what each
skipped part needs. The server authors' guide links here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from conformance.docsgen._markdown import cell, code
from conformance.model_coverage import ANY_MODEL, SCRIPTED
from conformance.requirements import Requirement
from conformance.traceability import TraceMatrix

__all__ = ["ANY_MODEL_ANCHOR", "model_gaps"]

ANY_MODEL_ANCHOR = "not-with-any-model"
# The reason shown when no check that bears on the requirement ran or skipped with the model.
_NO_CHECK = "no check that ran with this model tests it"


def model_gaps(
    requirements: Mapping[str, Requirement],
    matrices: Mapping[str, TraceMatrix],
    check_link: Callable[[str], str],
) -> list[str]:
    """The section (Markdown lines) of the requirement index, linking each check with
    ``check_link`` (check id -> link); empty unless both runs are recorded."""
    if SCRIPTED not in matrices or ANY_MODEL not in matrices:
        return []
    scripted = {row.id: row for row in matrices[SCRIPTED].rows}
    model = str((matrices[ANY_MODEL].source.get("target") or {}).get("model") or "?")
    # reason -> (checks that gave it, requirements it leaves untested), in first-seen order.
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for row in matrices[ANY_MODEL].rows:
        other = scripted.get(row.id)
        if row.status != "untested" or other is None or other.status != "tested":
            continue
        for reason, checks in row.skipped or ((_NO_CHECK, ()),):
            found, untested = groups.setdefault(reason, ([], []))
            found.extend(c for c in checks if c not in found)
            untested.append(row.id)
    out = [f"## What a model other than `conformance-1` leaves untested {{#{ANY_MODEL_ANCHOR}}}\n"]
    if not groups:
        out.append(f"The run with {code(model)} tested every requirement the scripted run did.\n")
        return out
    total = len({rid for _, untested in groups.values() for rid in untested})
    out.append(
        f"{total} server requirements the run with the scripted model tested were not tested "
        f"in the run with {code(model)}. Grouped by the reason that run's checks gave — what "
        "each skipped part needs; a requirement some parts of several checks bear on is listed "
        "under each reason. A server running its own model sees the same reasons in its "
        "report.\n"
    )
    out.append("| What the skipped part needs | Checks | Requirements left untested |")
    out.append("|---|---|---|")
    ordered = sorted(groups.items(), key=lambda item: -len(item[1][1]))
    for reason, (named, untested) in ordered:
        check_links = ", ".join(f"[{code(c)}]({check_link(c)})" for c in named)
        links = ", ".join(
            f"[{rid}](#{rid.lower()}) {requirements[rid].level}"
            if rid in requirements
            else code(rid)
            for rid in untested
        )
        out.append(f"| {cell(reason)} | {check_links or '—'} | {links} |")
    out.append("")
    return out

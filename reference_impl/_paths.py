"""Where the schemas live: ``schemas/`` beside this package in a checkout or editable
install, ``reference_impl/_data/schemas`` in a built wheel.

Kept separate from the suite's copy of this lookup on purpose: the two packages share data,
never code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["schemas_dir"]


@cache
def schemas_dir() -> Path:
    """Return the ``schemas/`` folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "schemas", here.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find schemas/ near {here}")

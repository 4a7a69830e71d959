"""Where the specification data lives: ``schemas/`` and ``spec/``.

In a source checkout (or an editable install) they are the top-level folders beside this
package; in a built wheel they are copied into ``conformance/_data/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["data_root", "schemas_dir", "spec_dir"]


@cache
def data_root() -> Path:
    """Return the folder that holds ``schemas/`` and ``spec/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data", here.parent):
        if (candidate / "schemas").is_dir() and (candidate / "spec").is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find schemas/ and spec/ near {here}")


def schemas_dir() -> Path:
    """Return the ``schemas/`` folder."""
    return data_root() / "schemas"


def spec_dir() -> Path:
    """Return the ``spec/`` folder."""
    return data_root() / "spec"

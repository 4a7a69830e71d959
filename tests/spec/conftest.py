"""Fixtures for the specification tests: a private copy of ``spec/`` and ``schemas/`` that a
test may break without touching the project's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance import _paths

__all__ = ["data_copy"]


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """Return a data root (holding ``spec/`` and ``schemas/``) copied from the project."""
    root = tmp_path / "data"
    for name in ("spec", "schemas"):
        shutil.copytree(_paths.data_root() / name, root / name)
    return root

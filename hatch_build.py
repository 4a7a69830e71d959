"""Wheel build hook: give each package its own copy of the specification data.

``conformance`` gets ``schemas/`` and ``spec/`` under ``conformance/_data``;
``reference_impl`` gets ``schemas/`` under ``reference_impl/_data``. Two copies because the
packages must not reach into each other. hatch's ``force-include`` is keyed by source path,
so the second copy of ``schemas/`` is staged in a temporary folder first.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the data files of both packages to the wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        staged = Path(tempfile.mkdtemp(prefix="responses-ws-build-")) / "schemas"
        shutil.copytree(root / "schemas", staged, ignore=shutil.ignore_patterns("__pycache__"))
        build_data["force_include"][str(root / "schemas")] = "conformance/_data/schemas"
        build_data["force_include"][str(root / "spec")] = "conformance/_data/spec"
        build_data["force_include"][str(staged)] = "reference_impl/_data/schemas"

"""The base of the plugin's items: a :class:`pytest.Item` that other plugins can inspect."""

from __future__ import annotations

from collections.abc import Callable

import pytest

__all__ = ["SyncItem"]


class SyncItem(pytest.Item):
    """An item that runs synchronously and says so through ``obj``.

    pytest gives ``obj`` to Python test functions only, but some plugins read it on every
    collected item: pytest-trio's ``trio_mode`` (which this project's own pytest settings turn
    on) does, in ``pytest_collection_modifyitems``, to find async tests, and without ``obj``
    the whole session ends in ``INTERNALERROR ... has no attribute 'obj'``
    (python-trio/pytest-trio#132). ``obj`` is the item's ``runtest``: a plain method, so such a
    plugin sees a synchronous test and leaves the item alone.
    """

    @property
    def obj(self) -> Callable[[], None]:
        """The callable the item runs."""
        return self.runtest

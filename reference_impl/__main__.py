"""``python -m reference_impl``: the reference server's command line."""

from __future__ import annotations

import sys

from reference_impl.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

"""The mkdocs hooks of the published site: the handlers live in
conformance.docsgen.site_hooks, where they are typed and tested."""

from __future__ import annotations

from conformance.docsgen.site_hooks import (
    on_config,
    on_files,
    on_page_content,
    on_page_markdown,
    on_post_build,
)

__all__ = ["on_config", "on_files", "on_page_content", "on_page_markdown", "on_post_build"]

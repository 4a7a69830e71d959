"""Hypothesis fuzzing of servers: strategies, mutations, the stateless and stateful fuzzers.

``responses-ws fuzz`` (:mod:`conformance.commands.fuzz`) drives them. Modules:
``strategies`` (valid client events from ``schemas/``), ``mutations`` (invalid input with the
answer the spec requires), ``client`` (a recording synchronous WebSocket client), ``oracle``
(judging answers; the checker over the transcript), ``stateless`` and ``stateful`` (the two
fuzzers), ``profiles`` (the ``dev``, ``ci`` and ``nightly`` settings) and ``result`` (reports
and the minimal transcript of a failure).
"""

from __future__ import annotations

__all__: list[str] = []

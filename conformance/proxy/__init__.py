"""``responses-ws proxy``: live conformance of real traffic, both directions.

A WebSocket proxy between a client and a server that forwards every byte unchanged and judges
both roles as the traffic crosses, with the checker the suites use. Sans-I/O parts, each with
one job: :mod:`.addresses` (``--listen``, ``--upstream``, TLS), :mod:`.headers` (which upgrade
headers cross, and keeping credentials out of records), :mod:`.compression` (the same
``permessage-deflate`` parameters with each side), :mod:`.handshake` (the opening handshake
with each side), :mod:`.tap` (what the I/O tells the judge), :mod:`.reader` (what crossed, read
from copies of the bytes), :mod:`.live` (the session's judgement, finding by finding),
:mod:`.transcripts` (one transcript file per connection), :mod:`.session` (events in; records,
findings and the end of a session out), :mod:`.report` (the session as a run for the report
writers) and :mod:`.console` (what is printed). :mod:`.server` is the I/O glue (asyncio
protocols), :mod:`.worker` the judge's own process; ``conformance/commands/proxy.py`` is the
command.
"""

from __future__ import annotations

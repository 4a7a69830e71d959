"""The stress mode of the suite (``responses-ws check --stress``, issue 18).

Five probes push a server the way hostile or broken clients do and report what it cost the
server and the other clients. They are not a conformance profile: each becomes a check with
figures and a WARNING (a figure broke a limit the server declared, or one of the stress
limits) or INFORMATIONAL verdict, in the console and in the usual reports. One module per
probe (:mod:`.slow_reader`, :mod:`.stalled_reader`, :mod:`.queue_flood`,
:mod:`.large_input`, :mod:`.bad_frames`), each an I/O driver that fills an observation and a
pure ``judge`` that turns it into figures and rules. Shared pieces: raw connections whose
reading the probe paces (:mod:`.wire`), the requests they send (:mod:`.messages`), the
latency monitor in a process of its own (:mod:`.monitor`), /proc readings of a local server
(:mod:`.procfs`), figures and rules (:mod:`.figures`), the parameters (:mod:`.config`), the
run (:mod:`.runner`), the console table (:mod:`.table`) and the command (:mod:`.command`).
docs/guides/stress.md explains the probes, the figures and the rules.
"""

"""What crossed one proxied connection, read from copies of its bytes (sans-I/O).

The proxy forwards each side's bytes as they come; a :class:`Reader` gets a copy of them
(:meth:`Reader.data`) and of each side's end of stream (:meth:`Reader.eof`) and says what
crossed, in transcript terms (:class:`Seen`): text and binary messages (fragmented ones
assembled), pings, pongs, close frames with their codes and reasons, and a side that ended its
TCP connection without a closing handshake and without a close frame of its own (``gone``,
RFC 6455 code 1006). It reads each
direction with a ``websockets`` sans-I/O protocol that answers nothing (its output is thrown
away: the answers are the other side's, and they are in the other direction's copy) and
decompresses with the parameters both sides agreed on (:mod:`.compression`).

A direction the reader can no longer make sense of (a protocol error, or a message above
``max_size``) is reported once and read no further; its bytes still cross the proxy.

Most of what crosses is whole, unfragmented text messages: those are read here from the
frame's header (RFC 6455 section 5.2) and decompressed with the same extension objects, without
the protocol's parser, whose generator steps cost more than the rest of the reading; every
other frame - control frames, fragments, anything unexpected - goes to the parser as a whole
frame, so that it never holds half a frame and each frame is read by exactly one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.extensions.base import Extension
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import Protocol, Side, State

try:  # the C implementation websockets itself uses, when it is built
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - depends on the installation
    from websockets.utils import apply_mask

__all__ = ["CLIENT", "UPSTREAM", "Reader", "Seen"]

# The two directions, named by who sends.
CLIENT = "c2s"
UPSTREAM = "s2c"


@dataclass(slots=True)
class Seen:
    """One thing that crossed the proxy, or the end of a side, in transcript terms.

    ``kind``: ``text``, ``binary``, ``ping``, ``pong``, ``close``, ``gone`` (a side ended its
    TCP connection without a closing handshake) or ``unread`` (the direction can no longer be
    read; ``note`` says why). ``dir``: ``c2s`` from the client, ``s2c`` from the upstream.
    A ``text`` message whose bytes are not valid UTF-8 has them in ``data`` (``text`` holds
    them decoded with U+FFFD replacement); a valid one has no ``data``.
    """

    kind: str
    dir: str
    text: str | None = None
    data: bytes | None = None
    code: int | None = None
    reason: str | None = None
    note: str | None = None


class _Listening(Protocol):
    """Reads frames without answering them (pings, closes) and without closing on its own."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING:
            self.events.append(frame)
            return
        if frame.opcode is Opcode.CLOSE:
            # RFC 6455 section 7.1.5/7.1.6 (a bad code or reason raises ProtocolError).
            self.close_rcvd = Close.parse(frame.data)
            self.events.append(frame)
            return
        super().recv_frame(frame)


# The first byte of a frame read without the parser: FIN set, no reserved bit (RSV1 too, with
# an extension to decode it), a text or a binary opcode (RFC 6455 section 5.2).
_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_RSV1 = 0x40


class _Direction:
    """One direction's parser, the bytes of a frame not complete yet, and the message it is
    assembling."""

    __slots__ = (
        "buffer",
        "closed",
        "ended",
        "extensions",
        "fragments",
        "masked",
        "max_size",
        "opcode",
        "parser",
        "unread",
    )

    def __init__(self, side: Side, extensions: list[Extension], max_size: int | None) -> None:
        self.parser = _Listening(side, state=State.OPEN, max_size=max_size)
        self.parser.extensions = extensions
        self.extensions = extensions[::-1]  # decoded in reverse order, as the parser does
        self.masked = side is Side.SERVER  # a server reads masked frames (RFC 6455 5.1)
        self.max_size = max_size
        self.buffer = bytearray()
        self.opcode: Opcode | None = None
        self.fragments: list[bytes] = []
        self.closed = False  # a close frame was read
        self.ended = False  # the TCP stream ended
        self.unread = False  # the parser failed: nothing more is read


class Reader:
    """Reads both directions of one connection."""

    def __init__(
        self,
        c2s: list[Extension] | None = None,
        s2c: list[Extension] | None = None,
        *,
        max_size: int | None = 64 * 1024 * 1024,
    ) -> None:
        # The client masks its frames: its direction is read as a server reads it.
        self._dirs = {
            CLIENT: _Direction(Side.SERVER, c2s or [], max_size),
            UPSTREAM: _Direction(Side.CLIENT, s2c or [], max_size),
        }
        self.gone = False

    def data(self, direction: str, data: bytes) -> list[Seen]:
        """A copy of bytes that crossed in ``direction``."""
        state = self._dirs[direction]
        if state.unread or state.ended or not data:
            return []
        buffer = state.buffer
        buffer += data
        seen: list[Seen] = []
        size = len(buffer)
        start = 0
        while size - start >= 2 and not state.unread:
            first = buffer[start]
            second = buffer[start + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - start < 4:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 4], "big")
                head = 4
            elif length == 127:
                if size - start < 10:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 10], "big")
                head = 10
            masked = second & 0x80
            if masked:
                head += 4
            end = start + head + length
            too_big = state.max_size is not None and length > state.max_size
            if end > size and not too_big:
                break  # the rest of the frame is still to come
            whole = first in (_FIN_TEXT, _FIN_BINARY) or (
                first in (_FIN_TEXT | _RSV1, _FIN_BINARY | _RSV1) and state.extensions
            )
            if (
                whole
                and not too_big
                and bool(masked) is state.masked
                and state.parser.current_size is None
            ):
                if masked:
                    payload = apply_mask(
                        buffer[start + head : end], bytes(buffer[start + head - 4 : start + head])
                    )
                else:
                    payload = bytes(buffer[start + head : end])
                if first == _FIN_TEXT and not state.extensions:
                    # The most common frame of all: a whole, uncompressed text message.
                    try:
                        seen.append(Seen("text", direction, text=payload.decode("utf-8")))
                    except UnicodeDecodeError:
                        self._whole(direction, state, first, payload, seen)
                else:
                    self._whole(direction, state, first, payload, seen)
            else:
                # The parser reads it (and reports what is wrong with it); a frame above the
                # limit is given as far as it came, which is enough for the parser to refuse.
                state.parser.receive_data(bytes(buffer[start : min(end, size)]))
                seen.extend(self._read(direction, state))
            start = min(end, size)
        if state.unread:
            buffer.clear()
        else:
            del buffer[:start]
        return seen

    def _whole(
        self, direction: str, state: _Direction, first: int, payload: bytes, seen: list[Seen]
    ) -> None:
        """A whole text or binary message in one frame, read without the parser."""
        opcode = Opcode.TEXT if first & 0x0F == Opcode.TEXT else Opcode.BINARY
        if state.extensions:
            frame = Frame(opcode, payload, True, bool(first & _RSV1))
            try:
                for extension in state.extensions:
                    frame = extension.decode(frame, max_size=state.max_size)
                frame.check()
            except (ProtocolError, PayloadTooBig) as exc:
                if isinstance(exc, PayloadTooBig):
                    exc.set_current_size(None)
                seen.append(self._unread(direction, state, exc))
                return
            payload = bytes(frame.data)
        state.opcode = opcode
        state.fragments = []
        self._message(direction, state, payload, seen)

    def eof(self, direction: str) -> list[Seen]:
        """The side sending in ``direction`` ended its TCP stream."""
        state = self._dirs[direction]
        if state.ended:
            return []
        state.ended = True
        seen: list[Seen] = []
        both_closed = all(d.closed for d in self._dirs.values())
        # A side that sent its close frame may end its stream without waiting for the answer:
        # it failed the connection (RFC 6455 section 7.1.7, e.g. 1007 for text that is not
        # UTF-8), and the close record says so; that is no drop.
        if not both_closed and not state.closed and not self.gone:
            # No closing handshake: the connection was dropped (RFC 6455 code 1006).
            self.gone = True
            seen.append(Seen("gone", direction, code=CloseCode.ABNORMAL_CLOSURE))
        return seen

    @property
    def finished(self) -> bool:
        """Whether both sides ended their streams."""
        return all(d.ended for d in self._dirs.values())

    def _read(self, direction: str, state: _Direction) -> list[Seen]:
        parser = state.parser
        parser.data_to_send()  # its own answers: never sent (the other side answers)
        seen: list[Seen] = []
        for event in parser.events_received():
            if isinstance(event, Frame):
                self._frame(direction, state, event, seen)
        exc = parser.parser_exc
        if exc is not None and not isinstance(exc, EOFError) and not state.unread:
            seen.append(self._unread(direction, state, exc))
        return seen

    @staticmethod
    def _unread(direction: str, state: _Direction, exc: BaseException) -> Seen:
        """The direction can no longer be read: said once."""
        state.unread = True
        who = "client" if direction == CLIENT else "upstream"
        return Seen(
            "unread",
            direction,
            note=f"the proxy cannot read the {who}'s frames any more "
            f"({type(exc).__name__}: {exc}); they are still forwarded as they are",
        )

    def _frame(self, direction: str, state: _Direction, frame: Frame, seen: list[Seen]) -> None:
        opcode = frame.opcode
        data = bytes(frame.data)
        if opcode is Opcode.PING:
            seen.append(Seen("ping", direction, data=data))
        elif opcode is Opcode.PONG:
            seen.append(Seen("pong", direction, data=data))
        elif opcode is Opcode.CLOSE:
            state.closed = True
            close = Close.parse(data) if data else None
            seen.append(
                Seen(
                    "close",
                    direction,
                    code=close.code if close is not None else None,
                    reason=close.reason if close is not None else None,
                )
            )
        else:
            if opcode is not Opcode.CONT:
                state.opcode = opcode
                state.fragments = []
            if not frame.fin:
                state.fragments.append(data)
                return
            if state.fragments:
                state.fragments.append(data)
                data = b"".join(state.fragments)
                state.fragments = []
            self._message(direction, state, data, seen)

    @staticmethod
    def _message(direction: str, state: _Direction, data: bytes, seen: list[Seen]) -> None:
        """A whole message of the direction's current opcode."""
        if state.opcode is Opcode.TEXT:
            try:
                seen.append(Seen("text", direction, text=data.decode("utf-8")))
            except UnicodeDecodeError:
                # The bytes are kept: the transcript records them (docs/transcripts.md), and the
                # checker reports the sender (RWS-TRANS-5/6).
                seen.append(
                    Seen("text", direction, text=data.decode("utf-8", "replace"), data=data)
                )
        else:
            seen.append(Seen("binary", direction, data=data))

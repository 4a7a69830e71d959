"""The texts of the ``conformance-1`` model: the fixed pattern, chunking into deltas, and the
UTF-8 cut used for ``max_output_tokens`` (appendix A.3, "Text pattern and chunking").
"""

from __future__ import annotations

__all__ = ["PATTERN", "pattern", "split_chunks", "truncate_utf8"]

PATTERN = "The quick brown fox jumps over the lazy dog. "


def pattern(length: int) -> str:
    """Return the first ``length`` characters of the endless repetition of ``PATTERN``."""
    if length <= 0:
        return ""
    return (PATTERN * (length // len(PATTERN) + 1))[:length]


def split_chunks(text: str, chunks: int) -> tuple[str, ...]:
    """Split ``text`` into its deltas.

    A text of L characters in K deltas is K consecutive pieces; the first ``L mod K`` pieces have
    ``floor(L / K) + 1`` characters, the others ``floor(L / K)``. K is at least 1 and capped at
    L; an empty text is sent as no delta at all.
    """
    length = len(text)
    if length == 0:
        return ()
    count = min(max(chunks, 1), length)
    size, longer = divmod(length, count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < longer else 0)
        pieces.append(text[start:end])
        start = end
    return tuple(pieces)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of ``text`` whose UTF-8 encoding has at most ``max_bytes`` bytes.

    The cut falls on a character boundary: a character that does not fit whole is dropped.
    """
    if len(text.encode("utf-8", errors="surrogatepass")) <= max_bytes:
        return text
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode("utf-8", errors="surrogatepass"))
        if used > max_bytes:
            return text[:index]
    return text  # pragma: no cover - the whole text fits, handled above

"""Tests of the text pattern, chunking and UTF-8 cut of ``conformance-1`` (appendix A.3)."""

from __future__ import annotations

import pytest

from reference_impl.model import PATTERN, pattern, split_chunks, truncate_utf8

__all__: list[str] = []


def test_pattern_is_the_45_character_sentence() -> None:
    """The pattern sentence has 45 characters and ends with a space."""
    assert PATTERN == "The quick brown fox jumps over the lazy dog. "
    assert len(PATTERN) == 45


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, ""),
        (3, "The"),
        (45, "The quick brown fox jumps over the lazy dog. "),
        (50, "The quick brown fox jumps over the lazy dog. The q"),
    ],
)
def test_pattern_repeats_the_sentence(length: int, expected: str) -> None:
    """pattern(N) is the first N characters of the endless repetition."""
    assert pattern(length) == expected


def test_pattern_of_long_length_has_exact_length() -> None:
    """Long texts have exactly N characters."""
    assert len(pattern(1000)) == 1000
    assert pattern(1000)[900:945] == PATTERN


def test_chunking_gives_first_l_mod_k_pieces_one_more_character() -> None:
    """L=10, K=4: pieces of 3, 3, 2, 2 characters."""
    assert split_chunks("abcdefghij", 4) == ("abc", "def", "gh", "ij")


def test_chunking_caps_k_at_length() -> None:
    """K greater than L gives L one-character deltas."""
    assert split_chunks("abc", 10) == ("a", "b", "c")


def test_chunking_of_empty_text_gives_no_delta() -> None:
    """A text of length 0 is sent as no delta at all."""
    assert split_chunks("", 3) == ()


def test_chunking_with_k_zero_sends_one_delta() -> None:
    """K below 1 is read as 1."""
    assert split_chunks("abc", 0) == ("abc",)


def test_chunking_counts_characters_not_bytes() -> None:
    """Multi-byte characters are never split."""
    assert split_chunks("ééé😀", 2) == ("éé", "é😀")


def test_truncate_cuts_at_character_boundary() -> None:
    """A two-byte character that does not fit whole is dropped."""
    assert truncate_utf8("aé", 2) == "a"
    assert truncate_utf8("aé", 3) == "aé"
    assert truncate_utf8("😀b", 3) == ""
    assert truncate_utf8("abc", 0) == ""

"""The suite's own predictions of conformance-1 (appendix A), computed from the appendix."""

from __future__ import annotations

import hashlib

from conformance.scenarios._model import (
    annotation,
    annotation_spans,
    announced_after,
    chunk_sizes,
    context_text,
    normalise_input,
    pattern,
    tokens,
    tokens_of,
)


def test_pattern_repeats_the_pangram() -> None:
    assert pattern(3) == "The"
    assert pattern(47) == "The quick brown fox jumps over the lazy dog. Th"
    assert pattern(0) == ""


def test_chunks_put_the_remainder_first_and_are_capped_at_the_length() -> None:
    assert chunk_sizes(100, 7) == [15, 15, 14, 14, 14, 14, 14]
    assert chunk_sizes(3, 10) == [1, 1, 1]
    assert chunk_sizes(0, 4) == []


def test_tokens_are_utf8_bytes_over_four_rounded_up() -> None:
    assert tokens("") == 0
    assert tokens("abcd") == 1
    assert tokens("abcde") == 2
    assert tokens("é") == 1  # two bytes


def test_string_input_becomes_one_user_message_and_role_items_get_a_type() -> None:
    assert normalise_input("hi") == [{"type": "message", "role": "user", "content": "hi"}]
    assert normalise_input([{"role": "user", "content": "x"}, {"type": "y"}]) == [
        {"type": "message", "role": "user", "content": "x"},
        {"type": "y"},
    ]


def test_context_text_uses_the_canonical_json_digest() -> None:
    context = normalise_input("hi")
    canonical = '[{"content":"hi","role":"user","type":"message"}]'
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert context_text(context) == f"context items=1 digest={digest}"
    assert tokens_of(context) == tokens(canonical)


def test_annotations_split_the_text_evenly_and_may_be_empty() -> None:
    assert annotation_spans(20, 3) == [(0, 6), (6, 13), (13, 20)]
    assert annotation_spans(1, 3) == [(0, 0), (0, 0), (0, 1)]
    assert annotation_spans(9, 0) == []


def test_annotation_is_a_url_citation_named_by_its_index() -> None:
    assert annotation(2, (13, 20)) == {
        "type": "url_citation",
        "start_index": 13,
        "end_index": 20,
        "title": "source 2",
        "url": "https://example.com/conformance-1/2",
    }


def test_annotation_is_announced_after_the_delta_that_reaches_its_end() -> None:
    # Deltas of 5: ends 6 and 13 are reached by the 2nd and 3rd delta, 20 by the 4th; an end
    # of 0 comes before any delta.
    assert announced_after([5, 5, 5, 5], [(0, 6), (6, 13), (13, 20)]) == [2, 3, 4]
    assert announced_after([1], [(0, 0), (0, 1)]) == [0, 1]

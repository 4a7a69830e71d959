"""Tests of the context and token rules of the ``conformance-1`` model (appendix A.1, A.2)."""

from __future__ import annotations

import hashlib
from typing import Any

from reference_impl.model import (
    build_context,
    canonical_json,
    context_digest,
    latest_user_text,
    normalize_input,
    tokens,
    tool_outputs_after_latest_user,
)

__all__: list[str] = []


class TestNormalizeInput:
    """A.1 step 2: the request's input, normalised."""

    def test_string_input_becomes_one_user_message(self) -> None:
        """A string becomes one user message with the string as its content."""
        assert normalize_input("hello") == [{"type": "message", "role": "user", "content": "hello"}]

    def test_item_with_role_and_no_type_gets_type_message(self) -> None:
        """An item with a role but no type gets type message; its string content stays."""
        assert normalize_input([{"role": "user", "content": "x"}]) == [
            {"type": "message", "role": "user", "content": "x"}
        ]

    def test_other_items_are_unchanged(self) -> None:
        """Items with a type, or without a role, are taken as they are."""
        items: list[dict[str, Any]] = [
            {"type": "function_call_output", "call_id": "call_1", "output": "4"},
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "a"}],
            },
            {"content": "no role"},
        ]
        assert normalize_input(items) == items

    def test_none_input_gives_no_items(self) -> None:
        """A request without input contributes no items."""
        assert normalize_input(None) == []

    def test_normalised_items_share_the_input_without_changing_it(self) -> None:
        """Each item is a new dict (the added type does not reach the caller's item), but its
        nested values are the input's own, not copies: a deep copy of a large input held the
        event loop for seconds (issue 18), and nothing changes either afterwards."""
        items = [{"role": "user", "content": [{"type": "input_text", "text": "a"}]}]
        normalized = normalize_input(items)
        assert "type" not in items[0]
        assert normalized[0]["type"] == "message"
        assert normalized[0]["content"] is items[0]["content"]


class TestBuildContext:
    """A.1 step 1 and 2: previous context, previous output, then the new input."""

    def test_context_is_previous_context_then_output_then_input(self) -> None:
        """The parts are concatenated in this order."""
        previous = [{"type": "message", "role": "user", "content": "one"}]
        output = [{"id": "msg_1", "type": "message", "role": "assistant", "content": []}]
        new = [{"role": "user", "content": "two"}]
        assert build_context(previous, output, new) == [
            previous[0],
            output[0],
            {"type": "message", "role": "user", "content": "two"},
        ]

    def test_first_turn_context_is_the_input(self) -> None:
        """Without a previous response the context is the normalised input."""
        assert build_context([], [], normalize_input("hi")) == normalize_input("hi")


class TestDigest:
    """A.1: the digest is the SHA-256 of the canonical JSON."""

    def test_canonical_json_sorts_keys_without_spaces_or_escapes(self) -> None:
        """Keys sorted, separators without spaces, non-ASCII kept as is."""
        assert canonical_json([{"role": "user", "content": "é", "type": "message"}]) == (
            '[{"content":"é","role":"user","type":"message"}]'
        )

    def test_digest_of_known_context(self) -> None:
        """The digest of a two-item context equals the SHA-256 of its hand-written JSON."""
        context = [
            {"type": "message", "role": "user", "content": "Grüße\nrws:context"},
            {"type": "function_call_output", "output": "42", "call_id": "call_9"},
        ]
        by_hand = (
            '[{"content":"Grüße\\nrws:context","role":"user","type":"message"},'
            '{"call_id":"call_9","output":"42","type":"function_call_output"}]'
        )
        expected = hashlib.sha256(by_hand.encode("utf-8")).hexdigest()
        assert context_digest(context) == expected
        assert context_digest([]) == hashlib.sha256(b"[]").hexdigest()
        # Pinned: "[]" is the empty context.
        assert context_digest([]) == (
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        )


class TestTokens:
    """A.2: tokens(s) = ceil(len(utf8(s)) / 4); of a JSON value, of its canonical JSON."""

    def test_tokens_of_strings_round_up_utf8_bytes(self) -> None:
        """0 bytes: 0 tokens, 1..4 bytes: 1, 5 bytes: 2; multi-byte characters count bytes."""
        assert [tokens(s) for s in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
        assert tokens("é") == 1  # 2 bytes
        assert tokens("ééé") == 2  # 6 bytes
        assert tokens("😀😀") == 2  # 8 bytes

    def test_tokens_of_json_value_are_tokens_of_canonical_json(self) -> None:
        """A list is measured by its canonical JSON, not its Python repr."""
        context = [{"type": "message", "role": "user", "content": "hi"}]
        text = '[{"content":"hi","role":"user","type":"message"}]'
        assert len(text) == 49
        assert tokens(context) == 13
        assert tokens([]) == 1  # "[]" is two bytes


class TestLatestUserMessage:
    """A.3: directives are read from the latest user message; P counts tool outputs after it."""

    def test_latest_user_text_is_last_user_message_string_content(self) -> None:
        """The last user message wins over earlier ones and over assistant messages."""
        context: list[dict[str, Any]] = [
            {"type": "message", "role": "user", "content": "first"},
            {"type": "message", "role": "user", "content": "second"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "x"}],
            },
        ]
        assert latest_user_text(context) == "second"

    def test_latest_user_text_concatenates_input_text_parts(self) -> None:
        """Array content: the text of input_text parts, in order; other parts ignored."""
        context: list[dict[str, Any]] = [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "rws:text "},
                    {"type": "input_image", "image_url": "data:,"},
                    {"type": "input_text", "text": "length=3"},
                ],
            }
        ]
        assert latest_user_text(context) == "rws:text length=3"

    def test_latest_user_text_without_user_message_is_empty(self) -> None:
        """No user message: no text, hence no directives."""
        assert latest_user_text([{"type": "function_call_output", "output": ""}]) == ""

    def test_p_counts_function_call_outputs_after_latest_user_message(self) -> None:
        """Only function_call_output items after the latest user message count."""
        context = [
            {"type": "function_call_output", "call_id": "a", "output": ""},
            {"type": "message", "role": "user", "content": "go"},
            {"type": "function_call", "call_id": "b", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "b", "output": ""},
            {"type": "function_call_output", "call_id": "c", "output": ""},
        ]
        assert tool_outputs_after_latest_user(context) == 2
        assert tool_outputs_after_latest_user(context[:2]) == 0

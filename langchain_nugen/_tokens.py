"""Offline token estimates, on the high (safe) side.

Nugen publishes no tokenizer, and LangChain's fallback (a GPT-2 tokenizer from
``transformers``) either fails without that package or downloads a vocabulary on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langchain_nugen._convert import _ASSISTANT_SKIPPED

# A run of digits, a run of letters, a punctuation mark, or whitespace other than one space.
_PIECES = re.compile(r"\d+|[^\W\d]+|[^\w\s]|\s{2,}|[^\S ]")
_REASONING = ("reasoning", "thinking")

MESSAGE_OVERHEAD = 4
"""Role marker and separators around each message."""

REPLY_OVERHEAD = 3
"""The assistant turn the model is primed to write."""

IMAGE_TOKENS = 768
"""An image, whatever its size: vision models spend a few hundred to ~1,300 tokens on one."""


def count_text_tokens(text: str) -> int:
    """Estimated tokens in ``text``: one per short word and one more per five characters of
    a long one, one per digit (some served tokenizers split numbers so), one per punctuation
    mark, line break or run of spaces, one per character of other scripts (as CJK)."""
    count = 0
    for piece in _PIECES.findall(text):
        if piece.isspace():
            count += 1
        elif piece.isascii() and not "0" <= piece[0] <= "9":
            count += 1 + (len(piece) - 1) // 5
        else:  # a run of digits, or of another script: one per character
            count += len(piece)
    return count


def _content_tokens(
    content: str | list[Any], skipped: Collection[str], count: Callable[[str], int]
) -> int:
    total = 0
    for block in [content] if isinstance(content, str) else content:
        if isinstance(block, str):
            total += count(block)
        elif isinstance(block, Mapping):
            kind = block.get("type")
            if kind == "text":
                total += count(str(block.get("text", "")))
            elif kind in ("image", "image_url"):
                total += IMAGE_TOKENS
            elif kind in skipped:
                continue  # not sent back to the service as it is
            else:
                total += count(json.dumps(block, ensure_ascii=False, default=str))
    return total


def count_message_tokens(
    messages: Sequence[BaseMessage],
    tools: Sequence[Any] | None = None,
    count: Callable[[str], int] = count_text_tokens,
) -> int:
    """Estimated prompt tokens of ``messages`` (and of the tool schemas, if given), their
    texts counted by ``count``."""
    total = REPLY_OVERHEAD
    for message in messages:
        # An assistant turn's reasoning and tool-call blocks are not sent (its calls are
        # counted from ``tool_calls`` below); other turns' reasoning is not either.
        skipped = _ASSISTANT_SKIPPED if isinstance(message, AIMessage) else _REASONING
        total += MESSAGE_OVERHEAD + _content_tokens(message.content, skipped, count)
        if message.name:
            total += count(message.name)
        if isinstance(message, AIMessage):
            # Calls with unparsable arguments go back too, as their raw text; arguments
            # that are not JSON (refused when sent) are estimated, not an error here.
            for call in (*message.tool_calls, *message.invalid_tool_calls):
                args = call.get("args") or ""
                if not isinstance(args, str):
                    args = json.dumps(args, ensure_ascii=False, default=str)
                total += 3 + count(call.get("name") or "") + count(args)
    if tools:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        for tool in tools:
            schema = convert_to_openai_tool(tool)
            total += count(json.dumps(schema, ensure_ascii=False))
    return total

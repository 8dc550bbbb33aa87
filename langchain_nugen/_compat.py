"""The translator LangChain asks for a Nugen message's v1 content blocks
(``output_version="v1"``, ``.content_blocks``): reasoning (``additional_kwargs``), text,
tool calls (mid-stream, tool-call chunks) and invalid tool calls."""

from __future__ import annotations

from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages import content as types
from langchain_core.messages.block_translators import register_translator

from langchain_nugen._convert import PROVIDER


def _reasoning_and_text(message: AIMessage) -> list[types.ContentBlock]:
    blocks: list[types.ContentBlock] = []
    reasoning = message.additional_kwargs.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "reasoning", "reasoning": reasoning})
    content = message.content
    for item in [content] if isinstance(content, str) else content:
        if isinstance(item, str):
            if item:
                blocks.append({"type": "text", "text": item})
        elif item.get("type") in types.KNOWN_BLOCK_TYPES:
            if item.get("type") == "reasoning" and blocks and blocks[0]["type"] == "reasoning":
                continue  # already taken from additional_kwargs
            blocks.append(cast("types.ContentBlock", item))
        else:
            blocks.append({"type": "non_standard", "value": item})
    return blocks


def _tool_calls(message: AIMessage) -> list[types.ContentBlock]:
    blocks: list[types.ContentBlock] = [
        {"type": "tool_call", "id": call.get("id"), "name": call["name"], "args": call["args"]}
        for call in message.tool_calls
    ]
    blocks.extend(
        {
            "type": "invalid_tool_call",
            "id": call.get("id"),
            "name": call.get("name"),
            "args": call.get("args"),
            "error": call.get("error"),
        }
        for call in message.invalid_tool_calls
    )
    return blocks


def translate_content(message: AIMessage) -> list[types.ContentBlock]:
    """Standard blocks of a whole Nugen ``AIMessage``."""
    return _reasoning_and_text(message) + _tool_calls(message)


def translate_content_chunk(message: AIMessageChunk) -> list[types.ContentBlock]:
    """Standard blocks of a streamed chunk: tool-call *chunks* while streaming, whole tool
    calls once the chunks are aggregated (``chunk_position="last"``)."""
    blocks = _reasoning_and_text(message)
    fragments = message.tool_call_chunks
    if message.chunk_position == "last":
        # A stream's own last chunk holds only fragments without a name, which close
        # calls begun earlier (see _stream): they continue those calls' blocks. An
        # aggregated message's calls are whole.
        fragments = [c for c in fragments if c.get("name") is None]
    if not fragments:
        return blocks + _tool_calls(message)
    for chunk in fragments:
        block: dict[str, Any] = {
            "type": "tool_call_chunk",
            "id": chunk.get("id"),
            "name": chunk.get("name"),
            "args": chunk.get("args"),
        }
        if (index := chunk.get("index")) is not None:
            # A string index of its own ("lc_tc_<n>") keeps each call's fragments together
            # when v1 content is merged, apart from the text and reasoning blocks, which
            # LangChain numbers 0, 1, ... as the block type changes.
            block["index"] = f"lc_tc_{index}"
        blocks.append(cast("types.ContentBlock", block))
    return blocks


def register() -> None:
    """Register the translator for ``model_provider="nugen"`` (idempotent)."""
    register_translator(PROVIDER, translate_content, translate_content_chunk)

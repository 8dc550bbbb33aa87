"""Canned chat replies for the benchmark: a ``chat_reply`` hook for NugenEmulator.

The benchmark measures the client's CPU, with the emulator in another process; the
emulator's own work per request must still stay small and constant, or the figures
measure the server. So every chat gets the same reply (a text, or one tool call), split
into a fixed number of stream chunks, and each stream is encoded once per
(model, include_usage, n) and reused: only the chunks that carry usage are re-encoded
per request, since usage follows each request's prompt. The emulator sends such a
stream in one write (``EncodedStream``). Why and what it costs: NOTES.md, section 1.
"""

from __future__ import annotations

import json

from nugen_emulator.replies import (
    ChatCall,
    Choice,
    EncodedStream,
    Generation,
    ToolCall,
    encode_event,
)

_LOREM = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


def canned_text(size: int) -> str:
    """A deterministic text of exactly ``size`` characters."""
    words: list[str] = []
    length = 0
    i = 0
    while length < size:
        word = _LOREM[i % len(_LOREM)]
        words.append(word)
        length += len(word) + (1 if i else 0)
        i += 1
    return " ".join(words)[:size]


def split_evenly(text: str, count: int) -> list[str]:
    """``text`` in ``count`` consecutive slices of (nearly) equal length, none empty."""
    count = max(1, min(count, len(text))) if text else 1
    size, extra = divmod(len(text), count)
    result, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        result.append(text[start:end])
        start = end
    return result


# Encoded chunks of one canned stream, and the chunks among them that carry usage.
_Encoded = tuple[list[bytes], list[tuple[int, dict[str, object]]]]


class CannedReplies:
    """Answer every chat request with one fixed reply (pass as ``chat_reply=``).

    Args:
        text: The reply's text, or an int for a generated text of that many characters.
        chunks: Stream the text (or the tool call's arguments) in this many equal pieces;
            ``None`` streams it as the emulator does (one word per chunk).
        tool_call: ``(name, arguments_json)``: reply with this tool call instead of text.

    Streams keep one id (``nugen-canned`` / ``chatcmpl-canned``) and one ``created``.
    """

    def __init__(
        self,
        text: str | int | None = None,
        *,
        chunks: int | None = None,
        tool_call: tuple[str, str] | list[str] | None = None,
    ) -> None:
        if text is None and tool_call is None:
            raise ValueError("CannedReplies needs a text or a tool_call")
        if chunks is not None and chunks < 1:
            raise ValueError("chunks must be >= 1")
        self.tool_call: tuple[str, str] | None = None
        if tool_call is not None:
            name, arguments = tool_call
            json.loads(arguments)  # fail now, not in the server thread
            self.tool_call = (name, arguments)
        self.text = canned_text(text) if isinstance(text, int) else text
        self.chunks = chunks
        streamed = self.tool_call[1] if self.tool_call else self.text or ""
        self._fragments = split_evenly(streamed, chunks) if chunks is not None else None
        self._streams: dict[tuple[str, bool, int], _Encoded] = {}

    def _choice(self) -> Choice:
        if self.tool_call is not None:
            name, arguments = self.tool_call
            call = ToolCall(name=name, arguments=arguments, id="call_canned")
            return Choice(content=None, finish_reason="tool_calls", tool_calls=[call])
        return Choice(content=self.text, finish_reason="stop")

    def __call__(self, call: ChatCall) -> Generation | EncodedStream:
        generation = Generation(choices=[self._choice()] * call.n, prompt_tokens=call.prompt_tokens)
        if not call.stream:
            return generation
        key = (call.model, call.include_usage, call.n)
        # A stream without usage (a fault asks for it) is rare: encoded, never cached.
        encoded = None if call.no_usage else self._streams.get(key)
        if encoded is None:
            response_id = "nugen-canned" if call.dialect == "nugen" else "chatcmpl-canned"
            chunks = call.stream_chunks(
                generation, response_id=response_id, fragments=self._fragments
            )
            with_usage = [(i, c) for i, c in enumerate(chunks) if c.get("usage") is not None]
            encoded = ([encode_event(chunk) for chunk in chunks], with_usage)
            if not call.no_usage:
                self._streams[key] = encoded
        events, with_usage = encoded
        events = list(events)
        usage = call.usage(generation)
        for i, chunk in with_usage:
            events[i] = encode_event({**chunk, "usage": usage})
        return EncodedStream(events)

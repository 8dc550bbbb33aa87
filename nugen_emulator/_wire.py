"""Rendering generations, chunks and errors as each dialect puts them on the wire.

``nugen`` answers like the live service (``forms="live"``) or like the provider's
reference pages (``forms="reference"``); ``openai`` like a vLLM-based OpenAI-compatible
host. The package docstring lists what each form sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, Literal, TypeAlias

from nugen_emulator._generation import Choice, Generation, confidence_score, pieces
from nugen_emulator._validation import ChatRequest, CompletionRequest

Dialect = Literal["nugen", "openai"]
WireForms = Literal["live", "reference"]
ServedModel: TypeAlias = "str | Callable[[str], str] | None"
_ARGUMENT_FRAGMENT = 8
# The speed the live service reports (fixed: replies are deterministic): chat as in its
# sample, text completions as it reports them.
_THROUGHPUT = 46.88
_GPU_SECONDS = 0.0112
_TTFT_SECONDS = 0.05
_TOKENS_PER_SECOND = 50.0
_VISION_CREATED_FACTOR = 10  # the provider's vision example has ten times "now"
_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error"}
_OPENAI_ERROR_TYPES |= {403: "permission_error", 404: "not_found_error", 408: "timeout_error"}
_OPENAI_ERROR_TYPES |= {409: "conflict_error", 422: "invalid_request_error"}
_OPENAI_ERROR_TYPES |= {429: "rate_limit_error"}
# The platform's words where the bare status phrase would not tell a user what to do.
_ERROR_MESSAGES = {402: "Insufficient balance: add credits to your Nugen account to continue."}
DONE_EVENT = b"data: [DONE]\n\n"


def encode_event(payload: Any) -> bytes:
    """One SSE event: ``data: <compact JSON>`` and the blank line that ends it."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def argument_fragments(arguments: str) -> list[str]:
    """Tool-call arguments in small pieces, the way real hosts stream them."""
    size = _ARGUMENT_FRAGMENT
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [arguments]


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _wire_calls(choice: Choice) -> list[dict[str, Any]] | None:
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in choice.tool_calls
    ]
    return calls or None


def _timing(ttft: float, throughput: float, total: float) -> dict[str, float]:
    timing = {"ttft_seconds": ttft, "throughput_tokens_per_second": throughput}
    return timing | {"total_seconds": total}


def _text(generation: Generation) -> str:
    return " ".join(c.content or "" for c in generation.choices)


class Renderer:
    """Turns dialect-neutral generations into one dialect's JSON bodies and chunks."""

    def __init__(
        self,
        dialect: Dialect,
        created: float | None = None,
        *,
        forms: WireForms = "live",
        served_model: ServedModel = None,
    ) -> None:
        self.dialect = dialect
        self.openai = dialect == "openai"
        self.live = not self.openai and forms == "live"
        self._created = created
        self._served_model = served_model
        # The contract lets hosts use either name; each dialect exercises one of them.
        self._reasoning_key = "reasoning" if self.openai else "reasoning_content"

    def now(self) -> float:
        return self._created if self._created is not None else time.time()

    def created(self, *, vision: bool = False) -> float | int:
        if self.openai or self.live:
            return int(self.now())
        return round(self.now() * (_VISION_CREATED_FACTOR if vision else 1), 2)

    def served(self, model: str) -> str:
        """The model name the answer reports for a request for ``model``."""
        served = self._served_model
        return model if served is None else served if isinstance(served, str) else served(model)

    def timing(self, generation: Generation) -> dict[str, float]:
        """The live service's chat ``timing``, a deterministic function of the tokens."""
        ttft = round(0.02 + generation.prompt_tokens / 2_000, 4)
        total = round(ttft + generation.completion_tokens / _THROUGHPUT, 4)
        return _timing(ttft, _THROUGHPUT, total)

    def usage(self, generation: Generation, *, details: bool = False) -> dict[str, Any]:
        """``usage``; ``details`` keeps null ``*_tokens_details`` in every form."""
        prompt, completion = generation.prompt_tokens, generation.completion_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        reasoning = generation.reasoning_tokens
        found = {"reasoning_tokens": reasoning} if reasoning else None
        if self.openai or self.live or details:
            usage |= {"completion_tokens_details": found, "prompt_tokens_details": None}
        elif found is not None:
            usage["completion_tokens_details"] = found
        return usage

    def _envelope(
        self, response_id: str, model: str, obj: str | None, created: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": response_id}
        if obj is not None:
            body["object"] = obj
        return body | {"created": created, "model": self.served(model)}

    # -- chat ----------------------------------------------------------------------------

    def chat_body(
        self,
        generation: Generation,
        *,
        response_id: str,
        model: str,
        vision: bool = False,
        no_usage: bool = False,
    ) -> dict[str, Any]:
        """A non-streaming chat completion."""
        usage = None if no_usage else self.usage(generation)
        score = confidence_score(model, _text(generation))
        choices = []
        message: dict[str, Any]
        for index, choice in enumerate(generation.choices):
            calls = _wire_calls(choice)
            if self.live:  # the live service's key order
                message = {"content": choice.content, "refusal": None, "role": "assistant"}
                message |= {"annotations": None, "audio": None, "function_call": None}
                message["tool_calls"] = calls
            else:
                message = {"role": "assistant", "content": choice.content}
                if calls or self.openai:
                    message["tool_calls"] = calls
                if self.openai:
                    message["function_call"] = None
            if choice.reasoning is not None:
                message[self._reasoning_key] = choice.reasoning
            if self.live:
                item = {"finish_reason": choice.finish_reason, "index": index, "logprobs": None}
                choices.append(item | {"message": message})
            else:
                item = {"index": index, "message": message}
                if self.openai:
                    item["logprobs"] = None
                choices.append(item | {"finish_reason": choice.finish_reason})
        if self.live:
            return {"id": response_id, "choices": choices, "created": self.created()} | {
                "model": self.served(model),
                "object": "chat.completion",
                "service_tier": None,
                "system_fingerprint": None,
                "usage": usage,
                "timing": self.timing(generation),
                "confidence": score,
            }
        obj = "chat.completion" if self.openai or not vision else None
        body = self._envelope(response_id, model, obj, self.created(vision=vision))
        if self.openai:
            body["system_fingerprint"] = None
        body |= {"choices": choices, "usage": usage}
        if self.openai:
            body |= {"service_tier": None, "prompt_logprobs": None}
        elif score is not None:
            body["confidence_score"] = score
        return body

    def _choice_deltas(self, choice: Choice, fragments: list[str] | None) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = [
            {self._reasoning_key: piece} for piece in pieces(choice.reasoning or "")
        ]
        for k, call in enumerate(choice.tool_calls):
            function = {"name": call.name, "arguments": ""}
            opening = {"index": k, "id": call.id, "type": "function", "function": function}
            deltas.append({"tool_calls": [opening]})
            deltas.extend(
                {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}
                for fragment in (fragments or argument_fragments(call.arguments))
            )
        if not choice.tool_calls and choice.content:
            deltas.extend({"content": piece} for piece in (fragments or pieces(choice.content)))
        deltas = deltas or [{"content": ""}]
        deltas[0] = {"role": "assistant", **deltas[0]}
        return deltas

    def _usage_chunk(
        self,
        generation: Generation,
        request: ChatRequest | CompletionRequest,
        envelope: dict[str, Any],
        no_usage: bool,
    ) -> Iterator[dict[str, Any]]:
        """The openai dialect's usage chunk (no choices), when ``include_usage`` asks."""
        if self.openai and request.include_usage and not no_usage:
            yield {**envelope, "choices": [], "usage": self.usage(generation)}

    def chat_chunks(
        self,
        generation: Generation,
        request: ChatRequest,
        *,
        response_id: str,
        no_usage: bool = False,
        fragments: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The chunks of a streamed chat completion answering ``request`` (without ``[DONE]``).

        Choices are interleaved round-robin (as OpenAI does with ``n`` > 1) so a client must
        join them by ``index``; ``finish_reason`` appears once per choice, on its last chunk.
        """
        model, choices = request.model, generation.choices
        live, openai = self.live, self.openai
        obj = "chat.completion.chunk" if live or openai else None
        envelope = self._envelope(response_id, model, obj, self.created())
        score = confidence_score(model, _text(generation))

        def chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            item: dict[str, Any] = {"index": index, "delta": delta}
            if openai:
                item["logprobs"] = None
            return envelope | {"choices": [item | {"finish_reason": finish}]}

        def closing(body: dict[str, Any]) -> dict[str, Any]:
            if not no_usage:
                body["usage"] = self.usage(generation)
            if score is not None:
                body["confidence" if live else "confidence_score"] = score
            return body

        per_choice = [self._choice_deltas(c, fragments) for c in choices]
        if live:
            # ``_timing``, an empty opening delta, the deltas (an empty one among them),
            # one ``delta: {}`` chunk per choice with its finish_reason, the timing event.
            yield {"_timing": {"gpu_processing_seconds": _GPU_SECONDS}}
            for deltas in per_choice:
                deltas[0].pop("role")
                deltas[:] = [{"content": ""}, *(d for d in deltas if d)]
                if len(deltas) > 2:
                    deltas.insert(2, {"content": ""})
        left = len(per_choice)
        for step in range(max(len(d) for d in per_choice)):
            for index, deltas in enumerate(per_choice):
                if step >= len(deltas):
                    continue
                finish = choices[index].finish_reason
                if live or openai or step < len(deltas) - 1:
                    yield chunk(index, deltas[step], None)
                    if openai and step == len(deltas) - 1:
                        yield chunk(index, {}, finish)
                    continue
                # reference: the last delta carries finish_reason, the stream's last chunk
                # usage and confidence_score.
                left -= 1
                body = chunk(index, deltas[step], finish)
                yield closing(body) if left == 0 else body
        if live:
            for index, choice in enumerate(choices):
                body = chunk(index, {}, choice.finish_reason)
                yield closing(body) if index == len(choices) - 1 else body
            yield {"object": "timing", "timing": self.timing(generation)}
        yield from self._usage_chunk(generation, request, envelope, no_usage)

    def chat_trailer(
        self, generation: Generation, *, response_id: str, model: str, no_usage: bool = False
    ) -> dict[str, Any] | None:
        """The live chunk after ``[DONE]`` (no choices, the usage again); else None."""
        if not self.live:
            return None
        envelope = self._envelope(response_id, model, "chat.completion.chunk", self.created())
        return envelope | {"choices": [], "usage": None if no_usage else self.usage(generation)}

    # -- text completions ----------------------------------------------------------------

    def _completion_extras(
        self, generation: Generation, model: str, no_usage: bool
    ) -> dict[str, Any]:
        """What the nugen dialect adds to a whole answer or a stream's last chunk."""
        total = round(_TTFT_SECONDS + generation.completion_tokens / _TOKENS_PER_SECOND, 4)
        extras = {} if no_usage else {"usage": self.usage(generation, details=True)}
        return extras | {
            "timing": _timing(_TTFT_SECONDS, _TOKENS_PER_SECOND, total),
            "confidence": confidence_score(model, _text(generation)),
        }

    def _completion_choice(self, index: int, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}

    def completion_body(
        self, generation: Generation, *, response_id: str, model: str, no_usage: bool = False
    ) -> dict[str, Any]:
        body = self._envelope(response_id, model, "text_completion", int(self.created()))
        body["choices"] = [
            self._completion_choice(index, choice.content or "", choice.finish_reason)
            for index, choice in enumerate(generation.choices)
        ]
        body |= {"system_fingerprint": None, "usage": None}
        if self.openai:
            body["usage"] = None if no_usage else self.usage(generation)
            return body
        return body | self._completion_extras(generation, model, no_usage)

    def completion_chunks(
        self,
        generation: Generation,
        request: CompletionRequest,
        *,
        response_id: str,
        no_usage: bool = False,
    ) -> Iterator[dict[str, Any]]:
        created = int(self.created())
        envelope = self._envelope(response_id, request.model, "text_completion", created)
        count = len(generation.choices)
        for index, choice in enumerate(generation.choices):
            texts = pieces(choice.content or "") or [""]
            for step, text in enumerate(texts):
                last = step == len(texts) - 1
                finish = choice.finish_reason if last else None
                body = envelope | {"choices": [self._completion_choice(index, text, finish)]}
                if last and index == count - 1 and not self.openai:
                    body |= self._completion_extras(generation, request.model, no_usage)
                yield body
        yield from self._usage_chunk(generation, request, envelope, no_usage)

    # -- embeddings ----------------------------------------------------------------------

    def embeddings_body(
        self, vectors: list[Any], *, model: str, tokens: int, no_usage: bool = False
    ) -> dict[str, Any]:
        openai = self.openai
        body: dict[str, Any] = {}
        if self.live:
            # The live envelope; its ``created`` is a float here, unlike in chat.
            now = self.now()
            body = {"id": f"nugen-{now:.6f}", "object": "list", "created": now, "model": model}
        if openai:
            body["object"] = "list"
        body["data"] = [
            ({"object": "embedding"} if openai else {}) | {"embedding": vector, "index": i}
            for i, vector in enumerate(vectors)
        ]
        body["model"] = model
        usage = {"prompt_tokens": tokens, "total_tokens": tokens} if openai else None
        body["usage"] = None if no_usage else usage or {"total_tokens": tokens}
        score = None if openai else confidence_score(model, str(tokens))
        if score is not None:
            body["confidence_score"] = score
        return body

    # -- errors --------------------------------------------------------------------------

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        """The dialect's body for an error status (FastAPI ``detail`` or OpenAI ``error``)."""
        text = message or _ERROR_MESSAGES.get(status) or status_phrase(status)
        if not self.openai:
            return {"detail": text}
        kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
        return {"error": {"message": text, "type": kind, "param": None, "code": status}}

    def validation_error(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """FastAPI's 422 ``detail`` list; vLLM-style hosts answer 400 with one message."""
        if not self.openai:
            return 422, {"detail": errors}
        where = [".".join(str(part) for part in error["loc"][1:]) for error in errors]
        pairs = zip(where, errors, strict=True)
        message = "; ".join(f"{w}: {e['msg']}" if w else e["msg"] for w, e in pairs)
        error = {"message": message, "type": "invalid_request_error", "param": where[0] or None}
        return 400, {"error": error | {"code": 400}}

    def stream_error_event(self, message: str, status: int = 500) -> dict[str, Any]:
        error: dict[str, Any] = {"message": message, "code": status}
        if self.openai:
            error["type"] = _OPENAI_ERROR_TYPES.get(status, "server_error")
        return {"error": error}

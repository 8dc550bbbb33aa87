"""Rendering generations, chunks and errors as each dialect puts them on the wire.

``nugen`` answers like the live service by default (``forms="live"``, the shapes of
``LIVE-SERVICE.md``): integer ``created``, the OpenAI SDK's null fields, ``timing`` and
``confidence`` in whole answers, and streams that open with a ``{"_timing": ...}`` event,
carry empty deltas, close with ``{"object": "timing", ...}`` and send one more chunk after
``[DONE]``. ``forms="reference"`` gives the provider's reference pages instead (float
``created``, ``confidence_score``, usage on the last delta). Both use FastAPI errors.
``openai`` follows an OpenAI-compatible host such as NebulaBlock (vLLM-style: ``object``,
integer ``created``, ``system_fingerprint``, ``service_tier``, null ``*_details``,
``{"error": {...}}``, no timing).
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
_THROUGHPUT = 46.88  # tokens per second, as in the live sample
_GPU_SECONDS = 0.0112
# The provider's vision example carries a created ten times "now" (16286546649.54).
_VISION_CREATED_FACTOR = 10
# The emulated service's speed, as its ``timing`` reports it (fixed: replies are
# deterministic).
_TTFT_SECONDS = 0.05
_TOKENS_PER_SECOND = 50.0

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


# What the platform says where the bare status phrase would not tell a user what to do.
_ERROR_MESSAGES = {
    402: "Insufficient balance: add credits to your Nugen account to continue.",
}


def encode_event(payload: Any) -> bytes:
    """One SSE event: ``data: <compact JSON>`` and the blank line that ends it."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"


def argument_fragments(arguments: str) -> list[str]:
    """Tool-call arguments in small pieces, the way real hosts stream them."""
    if len(arguments) <= _ARGUMENT_FRAGMENT:
        return [arguments]
    return [
        arguments[i : i + _ARGUMENT_FRAGMENT] for i in range(0, len(arguments), _ARGUMENT_FRAGMENT)
    ]


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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
        self.forms = forms
        self.live = dialect == "nugen" and forms == "live"
        """True when answers take the live service's shapes (LIVE-SERVICE.md)."""
        self._created = created
        self._served_model = served_model

    # -- common pieces -------------------------------------------------------------------

    def created(self, *, vision: bool = False) -> float | int:
        now = self._created if self._created is not None else time.time()
        if self.dialect == "openai" or self.live:
            return int(now)
        return round(now * (_VISION_CREATED_FACTOR if vision else 1), 2)

    def served(self, model: str) -> str:
        """The model name the answer reports for a request for ``model``."""
        served = self._served_model
        if served is None:
            return model
        return served if isinstance(served, str) else served(model)

    def timing(self, generation: Generation | None) -> dict[str, float]:
        """The live service's ``timing`` object, a deterministic function of the tokens."""
        prompt = generation.prompt_tokens if generation is not None else 0
        completion = generation.completion_tokens if generation is not None else 0
        ttft = round(0.02 + prompt / 2_000, 4)
        return {
            "ttft_seconds": ttft,
            "throughput_tokens_per_second": _THROUGHPUT,
            "total_seconds": round(ttft + completion / _THROUGHPUT, 4),
        }

    def usage(self, generation: Generation | None) -> dict[str, Any] | None:
        if generation is None:
            return None
        prompt, completion = generation.prompt_tokens, generation.completion_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        details = (
            {"reasoning_tokens": generation.reasoning_tokens}
            if any(c.reasoning_tokens for c in generation.choices)
            else None
        )
        if self.dialect == "openai" or self.live:
            usage["completion_tokens_details"] = details
            usage["prompt_tokens_details"] = None
        elif details is not None:
            usage["completion_tokens_details"] = details
        return usage

    def _reasoning_key(self) -> str:
        # The contract says hosts use either name; each dialect exercises one of them.
        return "reasoning_content" if self.dialect == "nugen" else "reasoning"

    def _envelope(
        self, response_id: str, model: str, obj: str | None, created: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": response_id}
        if obj is not None:
            body["object"] = obj
        body["created"] = created
        body["model"] = self.served(model)
        return body

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
        if self.live:
            return self._live_chat_body(
                generation, response_id=response_id, model=model, no_usage=no_usage
            )
        openai = self.dialect == "openai"
        obj = "chat.completion" if (openai or not vision) else None
        body = self._envelope(response_id, model, obj, self.created(vision=vision))
        if openai:
            body["system_fingerprint"] = None
        choices = []
        for index, choice in enumerate(generation.choices):
            message: dict[str, Any] = {"role": "assistant", "content": choice.content}
            if choice.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in choice.tool_calls
                ]
            elif openai:
                message["tool_calls"] = None
            if openai:
                message["function_call"] = None
            if choice.reasoning is not None:
                message[self._reasoning_key()] = choice.reasoning
            item: dict[str, Any] = {"index": index, "message": message}
            if openai:
                item["logprobs"] = None
            item["finish_reason"] = choice.finish_reason
            choices.append(item)
        body["choices"] = choices
        body["usage"] = None if no_usage else self.usage(generation)
        if openai:
            body["service_tier"] = None
            body["prompt_logprobs"] = None
        else:
            score = confidence_score(model, " ".join(c.content or "" for c in generation.choices))
            if score is not None:
                body["confidence_score"] = score
        return body

    def _tool_calls(self, choice: Choice) -> list[dict[str, Any]] | None:
        if not choice.tool_calls:
            return None
        return [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in choice.tool_calls
        ]

    def _live_chat_body(
        self, generation: Generation, *, response_id: str, model: str, no_usage: bool
    ) -> dict[str, Any]:
        # Key order as the live service sends it (LIVE-SERVICE.md, the vision sample).
        choices = []
        for index, choice in enumerate(generation.choices):
            message: dict[str, Any] = {
                "content": choice.content,
                "refusal": None,
                "role": "assistant",
                "annotations": None,
                "audio": None,
                "function_call": None,
                "tool_calls": self._tool_calls(choice),
            }
            if choice.reasoning is not None:
                message[self._reasoning_key()] = choice.reasoning
            choices.append(
                {
                    "finish_reason": choice.finish_reason,
                    "index": index,
                    "logprobs": None,
                    "message": message,
                }
            )
        content = " ".join(c.content or "" for c in generation.choices)
        return {
            "id": response_id,
            "choices": choices,
            "created": self.created(),
            "model": self.served(model),
            "object": "chat.completion",
            "service_tier": None,
            "system_fingerprint": None,
            "usage": None if no_usage else self.usage(generation),
            "timing": self.timing(generation),
            "confidence": confidence_score(model, content),
        }

    def _choice_deltas(self, choice: Choice, fragments: list[str] | None) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = []
        if choice.reasoning:
            key = self._reasoning_key()
            deltas.extend({key: piece} for piece in pieces(choice.reasoning))
        if choice.tool_calls:
            for k, call in enumerate(choice.tool_calls):
                deltas.append(
                    {
                        "tool_calls": [
                            {
                                "index": k,
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                )
                deltas.extend(
                    {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}
                    for fragment in (fragments or argument_fragments(call.arguments))
                )
        elif choice.content:
            deltas.extend({"content": piece} for piece in (fragments or pieces(choice.content)))
        if not deltas:
            deltas.append({"content": ""})
        deltas[0] = {"role": "assistant", **deltas[0]}
        return deltas

    def _usage_chunk(
        self,
        generation: Generation,
        request: ChatRequest | CompletionRequest,
        envelope: dict[str, Any],
        no_usage: bool,
    ) -> Iterator[dict[str, Any]]:
        """The openai dialect's last chunk, when ``stream_options.include_usage`` asks for
        one (and no fault strips usage): the stream's ``envelope``, no choices, the usage."""
        if self.dialect == "openai" and request.include_usage and not no_usage:
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
        model = request.model
        if self.live:
            yield from self._live_chat_chunks(
                generation,
                response_id=response_id,
                model=model,
                no_usage=no_usage,
                fragments=fragments,
            )
            return
        openai = self.dialect == "openai"
        obj = "chat.completion.chunk" if openai else None
        created = self.created()
        per_choice = [self._choice_deltas(c, fragments) for c in generation.choices]
        longest = max(len(d) for d in per_choice)
        final_choices_left = len(per_choice)

        def chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            body = self._envelope(response_id, model, obj, created)
            item: dict[str, Any] = {"index": index, "delta": delta}
            if openai:
                item["logprobs"] = None
            item["finish_reason"] = finish
            body["choices"] = [item]
            return body

        for step in range(longest):
            for index, deltas in enumerate(per_choice):
                if step >= len(deltas):
                    continue
                is_last = step == len(deltas) - 1
                if openai or not is_last:
                    yield chunk(index, deltas[step], None)
                    if openai and is_last:
                        yield chunk(index, {}, generation.choices[index].finish_reason)
                    continue
                # nugen: the last delta carries the finish_reason, and the very last chunk
                # of the stream carries usage (and confidence_score), as the docs show.
                final_choices_left -= 1
                body = chunk(index, deltas[step], generation.choices[index].finish_reason)
                if final_choices_left == 0:
                    if not no_usage:
                        body["usage"] = self.usage(generation)
                    content = " ".join(c.content or "" for c in generation.choices)
                    score = confidence_score(model, content)
                    if score is not None:
                        body["confidence_score"] = score
                yield body
        envelope = self._envelope(response_id, model, obj, created)
        yield from self._usage_chunk(generation, request, envelope, no_usage)

    def _live_chat_chunks(
        self,
        generation: Generation,
        *,
        response_id: str,
        model: str,
        no_usage: bool,
        fragments: list[str] | None,
    ) -> Iterator[dict[str, Any]]:
        """The live sequence: ``_timing``, an empty opening delta, the deltas (an empty
        one among them), a ``finish_reason`` chunk with ``delta: {}`` per choice (usage on
        the last), then ``{"object": "timing"}``. :meth:`chat_trailer` follows ``[DONE]``."""
        created = self.created()
        served = self.served(model)

        def chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": response_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": served,
                "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
            }

        yield {"_timing": {"gpu_processing_seconds": _GPU_SECONDS}}
        per_choice = []
        for choice in generation.choices:
            deltas = self._choice_deltas(choice, fragments)
            deltas[0].pop("role", None)
            deltas = [{"content": ""}, *(d for d in deltas if d)]
            if len(deltas) > 2:
                deltas.insert(2, {"content": ""})  # the live service sends empty deltas too
            per_choice.append(deltas)
        for step in range(max(len(d) for d in per_choice)):
            for index, deltas in enumerate(per_choice):
                if step < len(deltas):
                    yield chunk(index, deltas[step], None)
        last = len(generation.choices) - 1
        content = " ".join(c.content or "" for c in generation.choices)
        for index, choice in enumerate(generation.choices):
            body = chunk(index, {}, choice.finish_reason)
            if index == last:
                if not no_usage:
                    body["usage"] = self.usage(generation)
                score = confidence_score(model, content)
                if score is not None:
                    body["confidence"] = score
            yield body
        yield {"object": "timing", "timing": self.timing(generation)}

    def chat_trailer(
        self, generation: Generation, *, response_id: str, model: str, no_usage: bool = False
    ) -> dict[str, Any] | None:
        """The chunk the live service sends after ``[DONE]`` (empty ``choices``, the usage
        again); None for the other forms."""
        if not self.live:
            return None
        return {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": self.created(),
            "model": self.served(model),
            "choices": [],
            "usage": None if no_usage else self.usage(generation),
        }

    # -- text completions ----------------------------------------------------------------
    # The nugen dialect answers as the live service does (LIVE-SERVICE.md, "Text
    # completions"): integer ``created``, ``logprobs: null``, ``system_fingerprint: null``,
    # null usage details, ``timing`` and ``confidence`` (null but for domain-aligned
    # models). Streams carry usage, timing and confidence on their last chunk.

    def completion_timing(self, generation: Generation) -> dict[str, float]:
        """A deterministic ``timing`` object: what the service reports of its own speed."""
        total = round(_TTFT_SECONDS + generation.completion_tokens / _TOKENS_PER_SECOND, 4)
        return {
            "ttft_seconds": _TTFT_SECONDS,
            "throughput_tokens_per_second": _TOKENS_PER_SECOND,
            "total_seconds": total,
        }

    def _completion_usage(self, generation: Generation) -> dict[str, Any] | None:
        usage = self.usage(generation)
        if usage is not None and self.dialect == "nugen":
            usage.setdefault("completion_tokens_details", None)
            usage.setdefault("prompt_tokens_details", None)
        return usage

    def _completion_extras(self, generation: Generation, model: str) -> dict[str, Any]:
        if self.dialect != "nugen":
            return {}
        text = " ".join(c.content or "" for c in generation.choices)
        return {
            "timing": self.completion_timing(generation),
            "confidence": confidence_score(model, text),
        }

    def completion_body(
        self, generation: Generation, *, response_id: str, model: str, no_usage: bool = False
    ) -> dict[str, Any]:
        body = self._envelope(response_id, model, "text_completion", int(self.created()))
        body["choices"] = [
            {
                "index": index,
                "text": choice.content or "",
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
            for index, choice in enumerate(generation.choices)
        ]
        body["system_fingerprint"] = None
        body["usage"] = None if no_usage else self._completion_usage(generation)
        body.update(self._completion_extras(generation, model))
        return body

    def completion_chunks(
        self,
        generation: Generation,
        request: CompletionRequest,
        *,
        response_id: str,
        no_usage: bool = False,
    ) -> Iterator[dict[str, Any]]:
        model = request.model
        created = int(self.created())
        count = len(generation.choices)
        for index, choice in enumerate(generation.choices):
            texts = pieces(choice.content or "") or [""]
            for step, text in enumerate(texts):
                last = step == len(texts) - 1
                body = self._envelope(response_id, model, "text_completion", created)
                body["choices"] = [
                    {
                        "index": index,
                        "text": text,
                        "logprobs": None,
                        "finish_reason": choice.finish_reason if last else None,
                    }
                ]
                if last and index == count - 1 and self.dialect == "nugen":
                    if not no_usage:
                        body["usage"] = self._completion_usage(generation)
                    body.update(self._completion_extras(generation, model))
                yield body
        envelope = self._envelope(response_id, model, "text_completion", created)
        yield from self._usage_chunk(generation, request, envelope, no_usage)

    # -- embeddings ----------------------------------------------------------------------

    def embeddings_body(
        self, vectors: list[Any], *, model: str, tokens: int, no_usage: bool = False
    ) -> dict[str, Any]:
        openai = self.dialect == "openai"
        body: dict[str, Any] = {}
        if self.live:
            # The live answer's envelope; its ``created`` is a float here, unlike in chat.
            now = self._created if self._created is not None else time.time()
            body.update(id=f"nugen-{now:.6f}", object="list", created=now, model=model)
        if openai:
            body["object"] = "list"
        body["data"] = [
            ({"object": "embedding"} if openai else {}) | {"embedding": vector, "index": i}
            for i, vector in enumerate(vectors)
        ]
        body["model"] = model
        if no_usage:
            body["usage"] = None
        elif openai:
            body["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        else:
            body["usage"] = {"total_tokens": tokens}
        if not openai:
            score = confidence_score(model, str(tokens))
            if score is not None:
                body["confidence_score"] = score
        return body

    # -- errors --------------------------------------------------------------------------

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        """The dialect's body for an error status (FastAPI ``detail`` or OpenAI ``error``)."""
        text = message or _ERROR_MESSAGES.get(status) or status_phrase(status)
        if self.dialect == "nugen":
            return {"detail": text}
        kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
        return {"error": {"message": text, "type": kind, "param": None, "code": status}}

    def validation_error(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """FastAPI's 422 ``detail`` list; vLLM-style hosts answer 400 with one message."""
        if self.dialect == "nugen":
            return 422, {"detail": errors}

        def where(error: dict[str, Any]) -> str:
            return ".".join(str(part) for part in error["loc"][1:])

        message = "; ".join(f"{where(e)}: {e['msg']}" if where(e) else e["msg"] for e in errors)
        param = where(errors[0]) or None
        return 400, {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": 400,
            }
        }

    def stream_error_event(self, message: str, status: int = 500) -> dict[str, Any]:
        error: dict[str, Any] = {"message": message, "code": status}
        if self.dialect == "openai":
            error["type"] = _OPENAI_ERROR_TYPES.get(status, "server_error")
        return {"error": error}

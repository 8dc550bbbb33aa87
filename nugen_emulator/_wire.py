"""The dialect-neutral :class:`Generation` the model (or a hook) produces, and the
:class:`Renderer` that writes it as one dialect's bodies, chunks and errors (each form's
shapes: docs/emulator.md; their key order: the tables below)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeAlias

from nugen_emulator._validation import ChatBody, CompletionBody, InvalidBody, include_usage

Dialect = Literal["nugen", "openai"]
WireForms = Literal["live", "reference"]
ServedModel: TypeAlias = "str | Callable[[str], str] | None"
DOMAIN_ALIGNED_MODELS = frozenset({"nugen-legal", "nugen-lvm-legal", "nugen-embed-legal"})
_PIECE_RE = re.compile(r"\s*\S+")
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
# Status phrases, and the platform's words where a phrase would not tell a user what to do.
_ERROR_MESSAGES = {status.value: status.phrase for status in HTTPStatus}
_ERROR_MESSAGES[402] = "Insufficient balance: add credits to your Nugen account to continue."
# Key order of a whole chat answer, of its choices and of their messages, in each form; a
# key without a value is left out (a value may be null). The last message key is where
# the form puts reasoning: the contract lets hosts use either name.
_CHAT_KEYS = {
    "live": (
        "id choices created model object service_tier system_fingerprint usage timing confidence",
        "finish_reason index logprobs message",
        "content refusal role annotations audio function_call tool_calls reasoning_content",
    ),
    "reference": (
        "id object created model choices usage confidence_score",
        "index message finish_reason",
        "role content tool_calls reasoning_content",
    ),
    "openai": (
        "id object created model system_fingerprint choices usage service_tier prompt_logprobs",
        "index message logprobs finish_reason",
        "role content tool_calls function_call reasoning",
    ),
}
_NULL_KEYS = "refusal annotations audio function_call logprobs service_tier system_fingerprint"
_NULLS = dict.fromkeys(f"{_NULL_KEYS} prompt_logprobs".split())


def count_tokens(text: str) -> int:
    """The emulator's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """``text`` as tokens that concatenate back to it (each keeps its leading whitespace)."""
    found = _PIECE_RE.findall(text)
    tail = text[sum(len(p) for p in found) :]
    if tail and found:
        found[-1] += tail
    return found or ([text] if text else [])


def confidence_score(model: str, text: str) -> float | None:
    """A deterministic score in [50, 100) for domain-aligned models, else ``None``."""
    if model not in DOMAIN_ALIGNED_MODELS:
        return None
    digest = hashlib.sha256(f"{model}\x1f{text}".encode("utf-8", "surrogatepass")).digest()
    return round(50 + (int.from_bytes(digest[:8], "big") % 500_000) / 10_000, 4)


@dataclass
class ToolCall:
    """A tool call of a choice; ``arguments`` is the JSON text, ``id`` empty until set."""

    name: str
    arguments: str
    id: str = ""


@dataclass
class Choice:
    """One generated choice, before it is rendered in a dialect."""

    content: str | None
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None  # None when not requested or excluded
    reasoning_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        tokens = self.reasoning_tokens + count_tokens(self.content or "")
        return tokens + sum(1 + count_tokens(call.arguments) for call in self.tool_calls)


@dataclass
class Generation:
    """A reply before it is rendered in a dialect: its choices and the prompt's tokens."""

    choices: list[Choice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)

    @property
    def reasoning_tokens(self) -> int:
        return sum(choice.reasoning_tokens for choice in self.choices)


def encode_event(payload: Any) -> bytes:
    """One SSE event: ``data: <compact JSON>`` and the blank line that ends it."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _pick(keys: str, values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in keys.split() if key in values}


def _timing(ttft: float, throughput: float, tokens: int) -> dict[str, float]:
    """The live service's ``timing`` for ``tokens`` generated (deterministic)."""
    total = round(ttft + tokens / throughput, 4)
    return {
        "ttft_seconds": ttft,
        "throughput_tokens_per_second": throughput,
        "total_seconds": total,
    }


def _chat_timing(generation: Generation) -> dict[str, float]:
    ttft = round(0.02 + generation.prompt_tokens / 2_000, 4)
    return _timing(ttft, _THROUGHPUT, generation.completion_tokens)


def _text(generation: Generation) -> str:
    return " ".join(c.content or "" for c in generation.choices)


def _tool_call(call: ToolCall, arguments: str) -> dict[str, Any]:
    """A tool call as the wire writes it (a stream's opening one without arguments yet)."""
    function = {"name": call.name, "arguments": arguments}
    return {"id": call.id, "type": "function", "function": function}


def _text_choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
    """A text completion's choice, whole or in a chunk."""
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}


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
        self.form = "openai" if self.openai else forms
        self.chat_id_prefix = "chatcmpl-" if self.openai or self.live else "nugen-"
        # Kept as a float, so the forms that send a float never send an integer.
        self._created = None if created is None else float(created)
        self._served_model = served_model
        self._reasoning_key = _CHAT_KEYS[self.form][2].rsplit(" ", 1)[1]

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
        head = {"id": response_id} if obj is None else {"id": response_id, "object": obj}
        return head | {"created": created, "model": self.served(model)}

    def chat_body(
        self,
        generation: Generation,
        request: ChatBody,
        response_id: str,
        no_usage: bool,
        vision: bool,
    ) -> dict[str, Any]:
        """A non-streaming chat completion."""
        model = request.model
        body_keys, choice_keys, message_keys = _CHAT_KEYS[self.form]
        choices = []
        for index, choice in enumerate(generation.choices):
            calls = [_tool_call(call, call.arguments) for call in choice.tool_calls]
            message = {**_NULLS, "role": "assistant", "content": choice.content}
            if calls or self.form != "reference":
                message["tool_calls"] = calls or None
            if choice.reasoning is not None:
                message[self._reasoning_key] = choice.reasoning
            values = {**_NULLS, "index": index, "finish_reason": choice.finish_reason}
            choices.append(_pick(choice_keys, values | {"message": _pick(message_keys, message)}))
        score = confidence_score(model, _text(generation))
        values = {**_NULLS, "id": response_id, "model": self.served(model), "choices": choices}
        usage = None if no_usage else self.usage(generation)
        values |= {"created": self.created(vision=vision), "usage": usage}
        if self.form != "reference" or not vision:
            values["object"] = "chat.completion"
        if self.live:
            values |= {"timing": _chat_timing(generation), "confidence": score}
        elif score is not None:
            values["confidence_score"] = score
        return _pick(body_keys, values)

    def _choice_deltas(self, choice: Choice, fragments: list[str] | None) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = [
            {self._reasoning_key: piece} for piece in pieces(choice.reasoning or "")
        ]
        if choice.content:
            # Text said beside tool calls comes before them; ``fragments`` then split the
            # calls' arguments, not the text.
            split = fragments if fragments and not choice.tool_calls else pieces(choice.content)
            deltas.extend({"content": piece} for piece in split)
        for k, call in enumerate(choice.tool_calls):
            deltas.append({"tool_calls": [{"index": k, **_tool_call(call, "")}]})
            size = _ARGUMENT_FRAGMENT
            default = [call.arguments[i : i + size] for i in range(0, len(call.arguments), size)]
            deltas.extend(
                {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}
                for fragment in (fragments or default or [call.arguments])
            )
        deltas = deltas or [{"content": ""}]
        if self.live:
            # An empty opening delta, the deltas, an empty one among them (no role).
            deltas = [{"content": ""}, *deltas]
            return [*deltas[:2], {"content": ""}, *deltas[2:]] if len(deltas) > 2 else deltas
        return [{"role": "assistant", **deltas[0]}, *deltas[1:]]

    def chat_chunks(
        self,
        generation: Generation,
        request: ChatBody,
        response_id: str,
        no_usage: bool = False,
        fragments: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The chunks of a streamed chat completion answering ``request`` (without ``[DONE]``),
        in the order docs/emulator.md gives for each form; choices interleaved round-robin."""
        model, choices, live, openai = request.model, generation.choices, self.live, self.openai
        obj = "chat.completion.chunk" if live or openai else None
        envelope = self._envelope(response_id, model, obj, self.created())

        def chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            item = {"index": index, "delta": delta} | ({"logprobs": None} if openai else {})
            return envelope | {"choices": [item | {"finish_reason": finish}]}

        per_choice = [self._choice_deltas(c, fragments) for c in choices]
        chunks: list[dict[str, Any]] = []
        for step in range(max((len(d) for d in per_choice), default=0)):
            for index, deltas in enumerate(per_choice):
                if step >= len(deltas):
                    continue
                last = step == len(deltas) - 1
                finish = choices[index].finish_reason if last and not live else None
                if openai and last:
                    chunks += [chunk(index, deltas[step], None), chunk(index, {}, finish)]
                else:
                    chunks.append(chunk(index, deltas[step], finish))
        if live:  # the live service ends a stream max_tokens cut with "stop"
            ends = [("stop" if c.finish_reason == "length" else c.finish_reason) for c in choices]
            chunks += [chunk(i, {}, finish) for i, finish in enumerate(ends)]
        if not openai:  # the last chunk carries usage and the score
            chunks = chunks or [envelope | {"choices": []}]  # (a hook's reply without choices)
            if not no_usage:
                chunks[-1]["usage"] = self.usage(generation)
            score = confidence_score(model, _text(generation))
            if score is not None:
                chunks[-1]["confidence" if live else "confidence_score"] = score
        elif include_usage(request) and not no_usage:
            chunks.append({**envelope, "choices": [], "usage": self.usage(generation)})
        if live:
            opening = {"_timing": {"gpu_processing_seconds": _GPU_SECONDS}}
            return [opening, *chunks, {"object": "timing", "timing": _chat_timing(generation)}]
        return chunks

    def chat_trailer(
        self, generation: Generation, request: ChatBody, response_id: str, no_usage: bool
    ) -> dict[str, Any] | None:
        """The live chunk after ``[DONE]`` (no choices, the usage again); else None."""
        if not self.live:
            return None
        obj = "chat.completion.chunk"
        envelope = self._envelope(response_id, request.model, obj, self.created())
        return envelope | {"choices": [], "usage": None if no_usage else self.usage(generation)}

    def _completion_extras(
        self, generation: Generation, model: str, no_usage: bool
    ) -> dict[str, Any]:
        """What the nugen dialect adds to a whole answer or a stream's last chunk."""
        extras = {} if no_usage else {"usage": self.usage(generation, details=True)}
        return extras | {
            "timing": _timing(_TTFT_SECONDS, _TOKENS_PER_SECOND, generation.completion_tokens),
            "confidence": confidence_score(model, _text(generation)),
        }

    def completion_body(
        self, generation: Generation, request: CompletionBody, response_id: str, no_usage: bool
    ) -> dict[str, Any]:
        model = request.model
        body = self._envelope(response_id, model, "text_completion", int(self.created()))
        choices = enumerate(generation.choices)
        body["choices"] = [_text_choice(i, c.content or "", c.finish_reason) for i, c in choices]
        body |= {"system_fingerprint": None, "usage": None}
        if self.openai:
            return body | {"usage": None if no_usage else self.usage(generation)}
        return body | self._completion_extras(generation, model, no_usage)

    def completion_chunks(
        self, generation: Generation, request: CompletionBody, response_id: str, no_usage: bool
    ) -> list[dict[str, Any]]:
        created = int(self.created())
        envelope = self._envelope(response_id, request.model, "text_completion", created)
        chunks = []
        for index, choice in enumerate(generation.choices):
            texts = pieces(choice.content or "") or [""]
            for step, text in enumerate(texts):
                finish = choice.finish_reason if step == len(texts) - 1 else None
                chunks.append(envelope | {"choices": [_text_choice(index, text, finish)]})
        if not self.openai:
            chunks = chunks or [envelope | {"choices": []}]  # (a hook's reply without choices)
            chunks[-1] |= self._completion_extras(generation, request.model, no_usage)
        elif include_usage(request) and not no_usage:
            chunks.append({**envelope, "choices": [], "usage": self.usage(generation)})
        return chunks

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
        if no_usage:
            body["usage"] = None
        elif openai:
            body["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        elif not self.live:  # the live service sends no usage on embeddings
            body["usage"] = {"total_tokens": tokens}
        score = None if openai else confidence_score(model, str(tokens))
        if score is not None:
            body["confidence_score"] = score
        return body

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        """The dialect's body for an error status (FastAPI ``detail`` or OpenAI ``error``)."""
        text = message or _ERROR_MESSAGES.get(status, "Error")
        if not self.openai:
            return {"detail": text}
        kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
        return {"error": {"message": text, "type": kind, "param": None, "code": status}}

    def validation_error(self, invalid: InvalidBody) -> tuple[int, dict[str, Any]]:
        """FastAPI's 422 ``detail`` list; vLLM-style hosts answer 400 with one message."""
        if not self.openai:
            return 422, {"detail": invalid.errors}
        param = invalid.where[0] or None
        error = {"message": str(invalid), "type": "invalid_request_error", "param": param}
        return 400, {"error": error | {"code": 400}}

    def stream_error_event(self) -> dict[str, Any]:
        """The event vLLM-style hosts send after the 200 when generation fails."""
        error: dict[str, Any] = {"message": "Internal error while streaming", "code": 500}
        return {"error": error | {"type": "server_error"} if self.openai else error}

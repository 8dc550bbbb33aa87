"""``NugenLLM``: LangChain text completion model over the Nugen ``/completions`` endpoint."""

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import reduce
from operator import add
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
    Callbacks,
)
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from pydantic import Field

from langchain_nugen._base import LC_KWARGS, NugenModel, SessionFromConfig, on_retry, shown_keywords
from langchain_nugen._convert import summed_usage, token_usage
from langchain_nugen._errors import mapped_errors
from nugen_client.params import Stop, TextCompletionFields
from nugen_client.types import TextCompletion, TextCompletionChunk, Usage
from nugen_shared.requests import completion_request

__all__ = ["NugenLLM"]

# One prompt's generations, and the token usage to count for it.
_Result = tuple[list[Generation], dict[str, int] | None]
# The model and keywords of the generate() call under way. BaseLLM builds the cache key
# (and the callbacks' invocation_params) from _identifying_params, which is not given the
# call's keywords: without them a call with other settings would be answered from the cache.
_CALL: ContextVar[tuple["NugenLLM", dict[str, Any]] | None] = ContextVar("_CALL", default=None)
# generate()'s own keywords, which describe the run, not the request.
_RUN_OPTIONS = frozenset({"tags", "metadata", "run_name", "run_id"})


@contextmanager
def _call_under_way(model: "NugenLLM", kwargs: dict[str, Any]) -> Iterator[None]:
    request = {name: value for name, value in kwargs.items() if name not in _RUN_OPTIONS}
    token = _CALL.set((model, request))
    try:
        yield
    finally:
        _CALL.reset(token)


class NugenLLM(TextCompletionFields, NugenModel, SessionFromConfig, BaseLLM):
    r"""Nugen text completions (`POST /completions`) as a LangChain LLM.

    The counterpart of `langchain_openai.OpenAI`: a prompt string in, text out, over the
    shared `nugen_client`. For chat, tools and images use `ChatNugen`.

    ???+ info "Setup"

        ```bash
        pip install "nugen-integrations[langchain]"
        export NUGEN_API_KEY="your-api-key"
        ```

    ??? info "Key init args"

        `model` (default `nugen-flash-instruct`, alias `model_name`), `temperature`,
        `max_tokens`, `top_p`, `top_k`, `stop`, `n`, `prompt_truncate_len`, `streaming`,
        `stream_usage` and `model_kwargs` as for `ChatNugen`; `batch_size` (prompts per
        request in `generate`, 20) and `max_concurrent_requests` (requests in flight in
        `agenerate`, 8). The connection: `api_key` (env `NUGEN_API_KEY`), `base_url` (env
        `NUGEN_BASE_URL`), `timeout`, `max_retries`, `default_headers`, `session_id`,
        `provider`, `deadline`, `max_response_bytes`, `max_event_bytes`,
        `allow_insecure_http`, as for `ChatNugen`. Unset parameters are not sent.

    ??? info "Invoke, stream and generate"

        ```python
        from langchain_nugen import NugenLLM

        llm = NugenLLM(model="qwen-v2p5-0p5b-instruct", max_tokens=100)
        llm.invoke("To infinity, and")
        for piece in llm.stream("Once upon a time"):
            print(piece, end="")
        result = llm.generate(["Once upon a time", "The quick brown fox"])
        result.llm_output["token_usage"]  # summed over the requests
        ```

        `generation_info` holds `finish_reason`, `model_name` and, when the service
        sends them, the response's `id` and `created`, `system_fingerprint`,
        `service_tier`, `confidence_score`, `timing` and `logprobs`; a stream's last
        (empty) chunk carries the same (and `token_usage`).
    """

    _ls_model_type: ClassVar[Literal["chat", "llm"]] = "llm"
    _stream_is_one: ClassVar[str] = "text"
    _stream_method: ClassVar[str] = "stream_completion"

    # NugenModel's ``stop`` (alias ``stop_sequences``): TextCompletionFields, the first base,
    # would give its own, which takes no alias. (A FieldInfo, as ``Field()`` returns.)
    stop: Stop = NugenModel.model_fields["stop"]  # type: ignore[assignment]

    max_concurrent_requests: int = Field(default=8, ge=1)
    """Requests in flight at once when one async call completes several prompts."""
    batch_size: int = Field(default=20, ge=1)
    """Prompts sent in one request (the service answers each with its own choices)."""

    # ------------------------------------------------------------------ LangChain API

    @property
    def _llm_type(self) -> str:
        return "nugen"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # What makes an answer: the sampling fields, the host, the headers that pick the
        # session and the backend, and the keywords of the call under way (header values
        # redacted).
        params = super()._identifying_params
        for name in ("base_url", "session_id", "provider"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        call = _CALL.get()
        if call is not None and call[0] is self:
            params.update(shown_keywords(call[1]))
        return params

    def generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        callbacks: Callbacks | list[Callbacks] | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        with _call_under_way(self, kwargs):
            return super().generate(prompts, stop, callbacks, **kwargs)

    async def agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        callbacks: Callbacks | list[Callbacks] | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        with _call_under_way(self, kwargs):
            return await super().agenerate(prompts, stop, callbacks, **kwargs)

    # ---------------------------------------------------------------------- requests

    def _request(
        self, prompt: str | list[str], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments of one client call (``nugen_shared.requests.completion_request``:
        fields, then ``model_kwargs``, then ``kwargs``); a batch of one is sent as a string."""
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        fields, call = self._request_layers(stop, kwargs)
        return completion_request(prompt, fields, self.model_kwargs, call, ignore=LC_KWARGS)

    def _batches(self, prompts: list[str]) -> list[list[str]]:
        """The prompts of each request: ``batch_size`` at a time, one when streaming."""
        size = 1 if self.streaming else self.batch_size
        return [prompts[start : start + size] for start in range(0, len(prompts), size)]

    def _model_name(self, kwargs: dict[str, Any]) -> str:
        model = kwargs.get("model")
        return model if isinstance(model, str) and model else self.model

    def _converter(self, request: dict[str, Any], kwargs: dict[str, Any]) -> "TextStreamConverter":
        return TextStreamConverter(requested_model=request["model"])

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        results: list[_Result] = []
        for batch in self._batches(prompts):
            if self.streaming:
                results.append(_streamed(self._stream(batch[0], stop, run_manager, **kwargs)))
                continue
            with mapped_errors():
                request = self._request(batch, stop, kwargs)
                completion = self._sync_client().completion(
                    **request, on_retry=on_retry(run_manager)
                )
            results.extend(per_prompt(completion, len(batch), request))
        return _llm_result(results, self._model_name(kwargs))

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        # One request per batch of prompts (per prompt when streaming), at most
        # max_concurrent_requests in flight.
        limit = asyncio.Semaphore(self.max_concurrent_requests)

        async def one(batch: list[str]) -> list[_Result]:
            async with limit:
                if self.streaming:
                    pieces = [c async for c in self._astream(batch[0], stop, run_manager, **kwargs)]
                    return [_streamed(pieces)]
                with mapped_errors():
                    request = self._request(batch, stop, kwargs)
                    completion = await self._async_client().completion(
                        **request, on_retry=on_retry(run_manager)
                    )
                return per_prompt(completion, len(batch), request)

        tasks = [asyncio.ensure_future(one(batch)) for batch in self._batches(prompts)]
        try:
            done = await asyncio.gather(*tasks)
        except BaseException:
            # The first failure ends the call: the prompts still waiting are not sent.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return _llm_result([r for batch in done for r in batch], self._model_name(kwargs))


# ------------------------------------------------------------------ pure conversions


def per_prompt(completion: TextCompletion, prompts: int, request: dict[str, Any]) -> list[_Result]:
    """Each prompt's generations (one per choice, in index order) from one answer to
    ``prompts`` prompts (the client checked that choice ``i * n + j`` exists for each); the
    usage is counted once, on the first."""
    # The id, created, confidence_score, ... the host sent, as ChatNugen's response_metadata.
    header = {"model_name": completion.model or request["model"], **completion.header_metadata()}
    if completion.timing is not None:
        header["timing"] = completion.timing.as_dict()
    generations = []
    for choice in sorted(completion.choices, key=lambda choice: choice.index):
        info: dict[str, Any] = {"finish_reason": choice.finish_reason, **header}
        if choice.logprobs is not None:
            info["logprobs"] = choice.logprobs
        generations.append(Generation(text=choice.text, generation_info=info))
    n = len(generations) // prompts
    usage = None if completion.usage is None else token_usage(completion.usage)
    return [(generations[i * n : (i + 1) * n], usage if i == 0 else None) for i in range(prompts)]


class TextStreamConverter:
    """Text completion chunks -> ``GenerationChunk`` objects: one per piece of text
    (choice 0), then one empty final chunk carrying ``generation_info``."""

    __slots__ = ("_finish_reason", "_header", "_logprobs", "_requested", "usage")

    def __init__(self, requested_model: str = "") -> None:
        self._requested = requested_model
        self._finish_reason: str | None = None
        self._header: dict[str, Any] = {}
        self._logprobs: list[Any] = []
        self.usage: Usage | None = None

    def convert(self, chunk: TextCompletionChunk) -> GenerationChunk | None:
        # What per_prompt reads from a whole answer, as a chat stream reads them: the id and
        # time from the first chunk sending them, the others from any chunk (a host may send
        # none of them, or some only later).
        header = self._header
        for name, value in chunk.header_metadata().items():
            if name not in ("id", "created") or name not in header:
                header[name] = value
        if chunk.model:  # a chunk naming no model keeps the one known
            header["model_name"] = chunk.model
        # The live stream's opening {"_timing": ...} and closing timing events: their
        # figures add up, as a chat stream's do.
        for timing in (chunk.gpu_timing, chunk.timing):
            if timing is not None:
                header["timing"] = {**header.get("timing", {}), **timing.as_dict()}
        if chunk.usage is not None:
            self.usage = chunk.usage
        text = ""
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            text += choice.text
            if choice.logprobs is not None:
                self._logprobs.append(choice.logprobs)
            if choice.finish_reason:
                self._finish_reason = choice.finish_reason
        if not text:
            return None
        return GenerationChunk(text=text)

    def final(self) -> GenerationChunk:
        info: dict[str, Any] = {
            "finish_reason": self._finish_reason,
            "model_name": self._requested,
            **self._header,
        }
        if self._logprobs:
            info["logprobs"] = _joined(self._logprobs)
        if self.usage is not None:
            info["token_usage"] = token_usage(self.usage)
        return GenerationChunk(text="", generation_info=info)


def _joined(pieces: list[Any]) -> Any:
    """A stream's logprobs in the form of a whole answer's: lists joined, and objects of
    lists (OpenAI's ``tokens``, ``token_logprobs``, ...) joined key by key, as LangChain's
    chunk addition joins them; pieces of another form stay a list of them."""
    if all(isinstance(piece, list) for piece in pieces):
        return [item for piece in pieces for item in piece]
    if all(
        isinstance(piece, dict) and all(isinstance(value, list) for value in piece.values())
        for piece in pieces
    ):
        joined: dict[str, list[Any]] = {}
        for piece in pieces:
            for key, value in piece.items():
                joined.setdefault(key, []).extend(value)
        return joined
    return pieces


def _streamed(pieces: Iterable[GenerationChunk]) -> _Result:
    whole: GenerationChunk = reduce(add, pieces)  # never empty: a stream ends with its final chunk
    info = whole.generation_info or {}
    return [Generation(text=whole.text, generation_info=info)], info.get("token_usage")


def _llm_result(results: list[_Result], model: str) -> LLMResult:
    # Summed over the requests that reported usage; no counts ({}, as ChatNugen and
    # OpenAI give) when none did, where zeros would claim the requests used no tokens.
    usages = [usage for _, usage in results if usage is not None]
    llm_output = {"model_name": model, "token_usage": summed_usage(usages) if usages else {}}
    return LLMResult(generations=[generations for generations, _ in results], llm_output=llm_output)

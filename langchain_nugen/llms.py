"""``NugenLLM``: LangChain text completion model over the Nugen ``/completions`` endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM, LangSmithParams
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from langchain_core.utils.utils import _build_model_kwargs, get_pydantic_field_names
from pydantic import ConfigDict, Field, model_validator

from langchain_nugen._convert import PROVIDER
from langchain_nugen._errors import mapped_errors
from langchain_nugen._tokens import count_text_tokens
from nugen_client import InvalidInputError, OnRetry, StreamInterruptedError
from nugen_client.models import DEFAULT_CHAT_MODEL
from nugen_client.rules import ConnectionFields, completion_request, redact_headers
from nugen_client.types import (
    ResponseHeader,
    TextCompletion,
    TextCompletionChunk,
    Usage,
    response_timing,
)

__all__ = ["NugenLLM"]

# Call keywords that are LangChain's, not the service's.
_LC_KWARGS = frozenset({"stream_usage"})
_SAMPLING_FIELDS = ("max_tokens", "prompt_truncate_len", "temperature", "top_p", "top_k", "n")
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class NugenLLM(ConnectionFields, BaseLLM):
    r"""Nugen text completions (`POST /completions`) as a LangChain LLM.

    The counterpart of `langchain_openai.OpenAI`: a prompt string in, text out, over the
    shared `nugen_client` (the same connection fields, retries, errors, timeouts and
    `session_id` / `provider` headers as `ChatNugen`).

    Setup:
        `pip install "nugen-integrations[langchain]"` and set `NUGEN_API_KEY`.

    Key init args:
        model: Model name (alias `model_name`; default `nugen-flash-instruct`).
        temperature, max_tokens, top_p, top_k, stop, n, prompt_truncate_len: sampling
            fields; unset ones are not sent.
        streaming: `invoke` / `generate` stream internally (token callbacks per piece).
        stream_usage: Ask for usage on streams (default True).
        max_concurrent_requests: Requests in flight at once in `agenerate` / `abatch`
            over several prompts (default 8; one request per prompt).
        model_kwargs: Extra body fields, sent as they are.
        api_key, base_url, timeout, max_retries, default_headers, session_id, provider:
            as for `ChatNugen`.

    Instantiate and invoke:
        ```python
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import PromptTemplate
        from langchain_nugen import NugenLLM

        llm = NugenLLM(model="qwen-v2p5-0p5b-instruct", max_tokens=100)
        llm.invoke("To infinity, and")
        chain = PromptTemplate.from_template("Tell me about {topic}") | llm | StrOutputParser()
        chain.invoke({"topic": "rockets"})
        ```

    Stream / async:
        `for piece in llm.stream("..."):`, `await llm.ainvoke("...")`,
        `async for piece in llm.astream("...")`, `llm.batch([...])`.

    Token usage and metadata:
        `llm.generate(["a", "b"])` returns an `LLMResult` whose
        `llm_output["token_usage"]` sums the usage of every request and whose
        generations carry `generation_info` with `finish_reason`, `model_name`, and when
        the service sends them `confidence_score`, `timing` and `logprobs`. A stream's
        last (empty) chunk carries the same `generation_info` (and `token_usage`).
    """

    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(default=DEFAULT_CHAT_MODEL, alias="model_name")
    """Model name, e.g. `qwen-v2p5-0p5b-instruct`, `nugen-flash-instruct`."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature (0 to 2); the service's default when unset."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most tokens to generate."""
    top_p: float | None = Field(default=None, ge=0, le=1)
    """Nucleus sampling probability mass."""
    top_k: int | None = Field(default=None, ge=0)
    """Top-k sampling."""
    stop: list[str] | str | None = Field(default=None, alias="stop_sequences")
    """Stop sequences."""
    prompt_truncate_len: int | None = Field(default=None, ge=1)
    """Size to which the service truncates the prompt (server default 1500)."""
    n: int | None = Field(default=None, ge=1)
    """Completions per prompt; each becomes a generation. Cannot be streamed."""
    streaming: bool = False
    """Whether `invoke` / `generate` stream internally (token callbacks fire per piece)."""
    stream_usage: bool = True
    """Whether streams carry usage: requested with `stream_options`, on the last chunk."""
    max_concurrent_requests: int = Field(default=8, ge=1)
    """Requests in flight at once when one async call completes several prompts."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: dict[str, Any]) -> Any:
        """Unknown constructor keywords become body fields (``model_kwargs``)."""
        if isinstance(values, dict):
            names = get_pydantic_field_names(cls)
            if any(key not in names for key in values):
                return _build_model_kwargs(values, names)
        return values

    # ------------------------------------------------------------------ LangChain API

    @property
    def _llm_type(self) -> str:
        return "nugen"

    @property
    def model_name(self) -> str:
        """The model name (``OpenAI``-style accessor for :attr:`model`)."""
        return self.model

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "NUGEN_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_nugen", "llms"]

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        # dumps() reads the raw field values (not model_dump): redact header values here.
        serialized = super().to_json()
        kwargs = serialized.get("kwargs")
        if isinstance(kwargs, dict) and kwargs.get("default_headers"):
            kwargs["default_headers"] = redact_headers(kwargs["default_headers"])
        return serialized

    @property
    def _default_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        for name in _SAMPLING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.stop:
            params["stop"] = self.stop
        if self.model_kwargs:
            params.update(self.model_kwargs)
        return params

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self._default_params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider=PROVIDER,
            ls_model_name=model if isinstance(model, str) else self.model,
            ls_model_type="llm",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop_sequences = stop or self.stop
        if stop_sequences:
            params["ls_stop"] = (
                [stop_sequences] if isinstance(stop_sequences, str) else list(stop_sequences)
            )
        return params

    def get_num_tokens(self, text: str) -> int:
        """Offline estimate (Nugen publishes no tokenizer; nothing is downloaded)."""
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        return count_text_tokens(text)

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids need the model's tokenizer, which Nugen does not publish: pass
        ``custom_get_token_ids`` or use :meth:`get_num_tokens` (an offline estimate)."""
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        raise NotImplementedError(
            "Nugen does not publish its tokenizer: use get_num_tokens() (an offline "
            "estimate) or pass custom_get_token_ids="
        )

    # ---------------------------------------------------------------------- requests

    def _request(
        self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments of one client call (``nugen_client.rules.completion_request``:
        fields, then ``model_kwargs``, then ``kwargs``)."""
        fields: dict[str, Any] = {name: getattr(self, name) for name in _SAMPLING_FIELDS}
        fields.update(
            model=self.model,
            stop=self.stop or None,
            session_id=self.session_id,
            provider=self.provider,
        )
        call = dict(kwargs)
        if stop is not None:
            call["stop"] = stop or None
        return completion_request(prompt, fields, self.model_kwargs, call, ignore=_LC_KWARGS)

    def _model_name(self, kwargs: dict[str, Any]) -> str:
        model = kwargs.get("model")
        return model if isinstance(model, str) and model else self.model

    def _stream_request(
        self,
        prompt: str,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    ) -> tuple[dict[str, Any], TextStreamConverter]:
        request = self._request(prompt, stop, kwargs)
        n = request.get("n")
        if isinstance(n, int) and n > 1:
            raise InvalidInputError(
                f"n={n} cannot be streamed (a stream is one text); call generate() with "
                "streaming off to get several generations"
            )
        request["include_usage"] = bool(kwargs.get("stream_usage", self.stream_usage))
        request["on_retry"] = _on_retry(run_manager)
        return request, TextStreamConverter(requested_model=request["model"])

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        results: list[tuple[list[Generation], Usage | None]] = []
        for prompt in prompts:
            if self.streaming:
                results.append(_streamed(self._stream(prompt, stop, run_manager, **kwargs)))
                continue
            request = self._request(prompt, stop, kwargs)
            with mapped_errors():
                completion = self._sync_client().completion(
                    **request, on_retry=_on_retry(run_manager)
                )
            results.append((completion_generations(completion, request["model"]), completion.usage))
        return _llm_result(results, self._model_name(kwargs))

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        # One request per prompt, at most max_concurrent_requests in flight.
        limit = asyncio.Semaphore(self.max_concurrent_requests)

        async def one(prompt: str) -> tuple[list[Generation], Usage | None]:
            async with limit:
                if self.streaming:
                    pieces = [c async for c in self._astream(prompt, stop, run_manager, **kwargs)]
                    return _streamed(iter(pieces))
                request = self._request(prompt, stop, kwargs)
                with mapped_errors():
                    completion = await self._async_client().completion(
                        **request, on_retry=_on_retry(run_manager)
                    )
                return completion_generations(completion, request["model"]), completion.usage

        tasks = [asyncio.ensure_future(one(prompt)) for prompt in prompts]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # The first failure ends the call: the prompts still waiting are not sent.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return _llm_result(list(results), self._model_name(kwargs))

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        request, converter = self._stream_request(prompt, stop, kwargs, run_manager)
        with mapped_errors(), _keeping_partial(converter):
            for chunk in self._sync_client().stream_completion(**request):
                piece = converter.convert(chunk)
                if piece is not None:
                    if run_manager:
                        run_manager.on_llm_new_token(piece.text, chunk=piece)
                    yield piece
        final = converter.final()
        if run_manager:
            run_manager.on_llm_new_token("", chunk=final)
        yield final

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        request, converter = self._stream_request(prompt, stop, kwargs, run_manager)
        with mapped_errors(), _keeping_partial(converter):
            async for chunk in self._async_client().stream_completion(**request):
                piece = converter.convert(chunk)
                if piece is not None:
                    if run_manager:
                        await run_manager.on_llm_new_token(piece.text, chunk=piece)
                    yield piece
        final = converter.final()
        if run_manager:
            await run_manager.on_llm_new_token("", chunk=final)
        yield final


# ------------------------------------------------------------------ pure conversions


def _header_info(header: ResponseHeader, requested_model: str) -> dict[str, Any]:
    info: dict[str, Any] = {"model_name": header.model or requested_model}
    if header.confidence_score is not None:
        info["confidence_score"] = header.confidence_score
    timing = response_timing(header)
    if timing is not None:
        info["timing"] = timing
    return info


def completion_generations(
    completion: TextCompletion, requested_model: str = ""
) -> list[Generation]:
    """The generations of one prompt's answer (one per choice, in index order)."""
    header = _header_info(completion, requested_model)
    generations = []
    for choice in sorted(completion.choices, key=lambda choice: choice.index):
        info: dict[str, Any] = {"finish_reason": choice.finish_reason, **header}
        if choice.logprobs is not None:
            info["logprobs"] = choice.logprobs
        generations.append(Generation(text=choice.text, generation_info=info))
    return generations


def usage_dict(usage: Usage) -> dict[str, int]:
    return {key: getattr(usage, key) for key in _USAGE_KEYS}


class TextStreamConverter:
    """Text completion chunks -> ``GenerationChunk`` objects: one per piece of text
    (choice 0), then one empty final chunk carrying ``generation_info``."""

    __slots__ = ("_finish_reason", "_header", "_logprobs", "_pieces", "_requested", "usage")

    def __init__(self, requested_model: str = "") -> None:
        self._requested = requested_model
        self._pieces: list[str] = []
        self._finish_reason: str | None = None
        self._header: dict[str, Any] = {}
        self._logprobs: list[Any] = []
        self.usage: Usage | None = None

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def convert(self, chunk: TextCompletionChunk) -> GenerationChunk | None:
        for name, value in _header_info(chunk, "").items():
            if value:
                self._header[name] = value
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
        self._pieces.append(text)
        return GenerationChunk(text=text)

    def final(self) -> GenerationChunk:
        info: dict[str, Any] = {
            "finish_reason": self._finish_reason,
            "model_name": self._requested,
            **self._header,
        }
        if self._logprobs:
            info["logprobs"] = self._logprobs
        if self.usage is not None:
            info["token_usage"] = usage_dict(self.usage)
        return GenerationChunk(text="", generation_info=info)


def _streamed(pieces: Iterator[GenerationChunk]) -> tuple[list[Generation], Usage | None]:
    whole: GenerationChunk | None = None
    for piece in pieces:
        whole = piece if whole is None else whole + piece
    assert whole is not None  # a stream always ends with its final chunk
    info = whole.generation_info or {}
    token_usage = info.get("token_usage")
    usage = Usage.model_validate(token_usage) if isinstance(token_usage, dict) else None
    return [Generation(text=whole.text, generation_info=info)], usage


def _llm_result(results: list[tuple[list[Generation], Usage | None]], model: str) -> LLMResult:
    total = dict.fromkeys(_USAGE_KEYS, 0)
    for _, usage in results:
        if usage is not None:
            for key, value in usage_dict(usage).items():
                total[key] += value
    return LLMResult(
        generations=[generations for generations, _ in results],
        llm_output={"token_usage": total, "model_name": model},
    )


@contextmanager
def _keeping_partial(converter: TextStreamConverter) -> Iterator[None]:
    """A stream that broke off raises with the text received so far on ``.partial``."""
    try:
        yield
    except StreamInterruptedError as error:
        if not error.partial:
            error.partial = converter.text
        raise


def _on_retry(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> OnRetry | None:
    """The callback that reports the client's retries to LangChain's callbacks."""
    return run_manager.on_retry if run_manager is not None else None

"""``ChatNugen``: LangChain chat model over the Nugen inference API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import (
    BaseChatModel,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_function, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel

from langchain_nugen import _compat
from langchain_nugen._base import LC_KWARGS, NugenModel, RunManager, arelay, on_retry, relay
from langchain_nugen._convert import (
    completion_to_chat_result,
    to_wire_messages,
)
from langchain_nugen._errors import mapped_errors
from langchain_nugen._sessions import SessionFromConfig
from langchain_nugen._stream import StreamConverter
from langchain_nugen._tokens import count_message_tokens
from nugen_client.params import redact_headers
from nugen_shared.fields import ImageLimitField, ReasoningField
from nugen_shared.models import FALLBACK_CONTEXT_WINDOW, FALLBACK_MAX_OUTPUT_TOKENS, model_info
from nugen_shared.requests import chat_request

__all__ = ["ChatNugen"]

_compat.register()

_REASONING_EFFORTS = ["xhigh", "high", "medium", "low", "minimal", "none"]

_DictOrPydanticClass = dict[str, Any] | type
_DictOrPydantic = dict[str, Any] | BaseModel


class ChatNugen(NugenModel, ImageLimitField, ReasoningField, SessionFromConfig, BaseChatModel):
    r"""Nugen chat models (text, vision, tools, reasoning) in LangChain.

    Talks to the Nugen inference API (`POST /chat/completions`, or `/chat/vision`) through
    the shared `nugen_client` package: plain httpx, pooled connections, local validation of
    every request, retries with backoff and `Retry-After`, and typed errors. The same class
    works unchanged against OpenAI-compatible hosts (see the last section).

    ???+ info "Setup"

        Install the package with its LangChain extra and set `NUGEN_API_KEY`.

        ```bash
        pip install "nugen-integrations[langchain]"
        export NUGEN_API_KEY="your-api-key"
        ```

        `init_chat_model("nugen:...")` does not apply: LangChain's provider list is closed
        to third-party packages. Instantiate `ChatNugen` directly; it works everywhere a
        chat model is accepted (`create_agent(model=ChatNugen(...), ...)`).

    ??? info "Key init args — completion params"

        | Param                 | Type          | Description                                  |
        | --------------------- | ------------- | -------------------------------------------- |
        | `model`               | `str`         | Model (alias `model_name`).                  |
        | `temperature`         | `float`       | Sampling temperature, 0 to 2.                |
        | `max_tokens`          | `int`         | Most tokens to generate.                     |
        | `top_p`, `top_k`      | `float`,`int` | Nucleus and top-k sampling.                  |
        | `stop`                | `list[str]`   | Stop sequences.                              |
        | `n`                   | `int`         | Completions per call (not when streaming).   |
        | `prompt_truncate_len` | `int`         | Prompt truncation size (server: 1500).       |
        | `reasoning`           | `dict`        | `{"effort": "low", "max_tokens": 512, ...}`. |
        | `streaming`           | `bool`        | `invoke` streams internally.                 |
        | `stream_usage`        | `bool`        | Usage on the last chunk (default `True`).    |
        | `model_kwargs`        | `dict`        | Extra body fields, sent as they are.         |
        | `use_vision_endpoint` | `bool`        | Use `/chat/vision`.                          |

        Unset parameters (`None`) are not sent: the service's defaults apply. The default
        model is `nugen-flash-instruct`.

    ??? info "Key init args — client params"

        | Param             | Type        | Description                                        |
        | ----------------- | ----------- | -------------------------------------------------- |
        | `api_key`         | `SecretStr` | Env `NUGEN_API_KEY` by default (read when unset).  |
        | `base_url`        | `str`       | Env `NUGEN_BASE_URL`, else the Nugen API.          |
        | `timeout`         | `float`     | Idle timeout in seconds; `None`: 120 (default).    |
        | `max_retries`     | `int`       | Retries of 408/409/429/5xx/connection errors (2).  |
        | `default_headers` | `dict`      | Headers sent with every request.                   |
        | `session_id`      | `str`       | Sent as `X-Session-ID` (conversation tracking).    |
        | `provider`        | `str`       | Sent as `X-Provider` (server default `fwai`).      |
        | `max_image_bytes` | `int`       | Largest image accepted locally (20 MiB).           |
        | `allow_insecure_http` | `bool`  | Permit plain http to a non-loopback host (False).  |
        | `deadline`        | `float`     | Seconds for a whole call, retries included (600).  |
        | `max_response_bytes` | `int`    | Largest answer, a whole stream included (64 MiB).  |
        | `max_event_bytes` | `int`       | Largest stream event (16 MiB).                     |

        A missing API key is reported at the first call, not at construction. A pickle
        carries the key (as a `SecretStr`), so worker processes authenticate as the
        parent did; `repr`, `str`, errors, logs and `dumps` never show it.

    ??? info "Instantiate"

        ```python
        from langchain_nugen import ChatNugen

        model = ChatNugen(
            model="nugen-flash-instruct",
            temperature=0,
            max_tokens=None,
            timeout=None,
            max_retries=2,
            # api_key="...", base_url="...", session_id="...", provider="...",
        )
        ```

        Keywords the class does not know are moved into `model_kwargs` (with a warning) and
        sent as body fields; `model.invoke(..., frequency_penalty=0.2)` does the same for one
        call.

    ??? info "Invoke"

        ```python
        messages = [
            ("system", "You are a helpful translator. Translate the user sentence to French."),
            ("human", "I love programming."),
        ]
        model.invoke(messages)  # AIMessage(content="J'adore la programmation.", ...)
        ```

        Every request parameter can be set per call, including the Nugen headers:
        `model.invoke(messages, temperature=0.2, session_id="conv-42",
        extra_headers={"X-Trace": "abc"}, model="nugen-legal")`.

    ??? info "Stream"

        ```python
        for chunk in model.stream(messages):
            print(chunk.text, end="")
        ```

        The last chunk is empty and has `chunk_position="last"`; it alone carries the usage
        and the response metadata. Adding the chunks up gives the whole message:

        ```python
        full = None
        for chunk in model.stream(messages):
            full = chunk if full is None else full + chunk
        ```

    ??? info "Async"

        ```python
        await model.ainvoke(messages)
        async for chunk in model.astream(messages):
            ...
        await model.abatch([messages])
        ```

        One model object works from successive event loops (`asyncio.run(...)` twice):
        the async client keeps one connection pool per loop.

    ??? info "Tool calling"

        ```python
        from pydantic import BaseModel, Field


        class GetWeather(BaseModel):
            '''Get the current weather in a given location'''

            location: str = Field(..., description="The city and state, e.g. Boston, MA")


        model_with_tools = model.bind_tools([GetWeather], tool_choice="auto")
        ai_msg = model_with_tools.invoke("What is the weather like in Boston?")
        ai_msg.tool_calls
        # [{"name": "GetWeather", "args": {"location": "Boston, MA"}, "id": "call_...",
        #   "type": "tool_call"}]
        ```

        `tool_choice`: `"auto"`, `"none"`, a tool name (forces that tool), `"any"` /
        `"required"` / `True` (forces a call: the tool by name when one is bound, else
        `"required"`), or the dict form. Arguments that are not valid JSON land in
        `ai_msg.invalid_tool_calls` instead of raising. Streamed tool calls arrive as
        `tool_call_chunks` that add up to whole calls.

    ??? info "Structured output"

        ```python
        class Joke(BaseModel):
            '''Joke to tell user.'''

            setup: str = Field(description="The setup of the joke")
            punchline: str = Field(description="The punchline to the joke")


        structured_model = model.with_structured_output(Joke)  # function calling
        structured_model.invoke("Tell me a joke about cats")
        ```

        `method="json_schema"` uses `response_format` with the schema, `method="json_mode"`
        asks for a JSON object (describe the keys in the prompt); `include_raw=True`
        returns `{"raw", "parsed", "parsing_error"}`. Pydantic classes, `TypedDict`s and
        JSON schemas are accepted.

    ??? info "Vision"

        ```python
        from langchain_core.messages import HumanMessage

        model = ChatNugen(model="nugen-flash-vision")
        message = HumanMessage(
            content=[
                {"type": "text", "text": "Describe this image."},
                {"type": "image", "url": "https://example.com/cat.jpg"},
                # also: {"type": "image", "base64": "...", "mime_type": "image/png"},
                # {"type": "image_url", "image_url": {"url": "data:image/png;base64,...",
                #                                     "detail": "low"}},
                # legacy {"type": "image", "source_type": "base64", "data": "..."}
            ]
        )
        model.invoke([message])
        ```

        Images must be https URLs or base64 data (sent as `data:` URLs, mime type detected
        from the bytes). Audio, PDF/file blocks and file ids are refused with a
        `ValueError` naming the block, before any request. `use_vision_endpoint=True`
        sends to the dedicated `/chat/vision` endpoint (answers whole; streaming yields it
        as one chunk), which takes no tools: tools and structured output with images go to
        `/chat/completions`.

    ??? info "Reasoning"

        ```python
        model = ChatNugen(reasoning={"effort": "low"})
        msg = model.invoke("What is 17 * 23?")
        msg.additional_kwargs["reasoning_content"]  # the model's reasoning text
        ```

        With `output_version="v1"` the reasoning is a `{"type": "reasoning"}` block at the
        start of `msg.content`; `msg.content_blocks` shows it either way. Reasoning blocks
        in the history are not sent back to the service.

    ??? info "Token usage"

        ```python
        ai_msg = model.invoke(messages)
        ai_msg.usage_metadata
        ```

        ```python
        {"input_tokens": 28, "output_tokens": 5, "total_tokens": 33,
         "output_token_details": {"reasoning": 12}}  # details when the host reports them
        ```

        Streaming requests ask for usage (`stream_options: {"include_usage": true}`) unless
        `stream_usage=False`. `get_num_tokens` / `get_num_tokens_from_messages` give an
        offline estimate (no tokenizer download), so `trim_messages(token_counter=model)`
        works offline.

    ??? info "Response metadata"

        ```python
        ai_msg.response_metadata
        ```

        ```python
        {"model_provider": "nugen", "model_name": "llama-3.2-3b-reasoning",
         "finish_reason": "stop", "id": "chatcmpl-abc123", "created": 1785908339,
         "confidence_score": 89.5,  # domain-aligned models only
         "timing": {"ttft_seconds": 0.0639, "throughput_tokens_per_second": 46.88,
                    "total_seconds": 2.197}}
        ```

        `model_name` is the model the service says it ran; `timing` is the service's own
        (a stream's also has `gpu_processing_seconds`), absent when the host sends none.
        `confidence_score` comes only from domain-aligned models; the service documents
        no scale for it (its reference page's example is 89.5454), and the emulator's
        values are made up.

    ??? info "Nugen extras"

        - `model.profile` describes the model (context window, image input, tool calling,
          structured output, reasoning); unknown model names get a capable default.
        - Errors are both `nugen_client` errors and `langchain_core.exceptions` errors
          (`ModelRateLimitError`, `ContextOverflowError`, ...), so `with_retry` and
          `with_fallbacks` recognise them. Retries are reported to callbacks' `on_retry`
          when LangChain hands the model a run manager (`invoke`, `ainvoke`, `batch`;
          `stream()` gives none, so retries before a stream starts are only logged).

    ??? info "OpenAI-compatible hosts"

        ```python
        model = ChatNugen(
            base_url="https://inference.nebulablock.com/v1",
            api_key="...",
            model="Qwen/Qwen2.5-VL-7B-Instruct",
        )
        ```

        Only the parameters you set are sent, so Nugen-only fields never reach a host that
        might reject them (the one exception is `stream_options` on streaming requests,
        which asks the host for usage; turn it off with `stream_usage=False`).
    """

    _sampling_fields: ClassVar[tuple[str, ...]] = (
        *NugenModel._sampling_fields,
        *ReasoningField.model_fields,
    )
    _ls_model_type: ClassVar[Literal["chat", "llm"]] = "chat"
    _stream_is_one: ClassVar[str] = "message"

    use_vision_endpoint: bool = False
    """Send requests to `/chat/vision` (answers whole) instead of `/chat/completions`."""

    # ------------------------------------------------------------------ LangChain API

    @property
    def _llm_type(self) -> str:
        return "nugen-chat"

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_nugen", "chat_models"]

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # What callbacks and LangSmith traces receive: per-call headers redacted.
        params = super()._get_invocation_params(stop, **kwargs)
        if params.get("extra_headers"):
            params["extra_headers"] = redact_headers(params["extra_headers"])
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        info = model_info(self.model)
        profile = ModelProfile(
            text_inputs=True,
            text_outputs=True,
            image_inputs=info.image_inputs,
            image_url_inputs=info.image_inputs,
            image_tool_message=info.image_inputs,
            pdf_inputs=False,
            audio_inputs=False,
            video_inputs=False,
            tool_calling=info.tool_calling,
            tool_choice=info.tool_calling,
            tool_call_streaming=info.tool_calling,
            structured_output=info.structured_output,
            reasoning_output=info.reasoning,
            temperature=True,
        )
        # Nugen publishes no context windows: the table says unknown, the profile gives
        # the documented fallback (override with profile=...).
        profile["max_input_tokens"] = info.context_window or FALLBACK_CONTEXT_WINDOW
        profile["max_output_tokens"] = (
            info.max_output_tokens
            if info.max_output_tokens is not None
            else FALLBACK_MAX_OUTPUT_TOKENS
        )
        if info.reasoning:
            profile["reasoning_effort_levels"] = list(_REASONING_EFFORTS)
        return profile

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Offline estimate of the prompt tokens of ``messages`` (and ``tools``)."""
        return count_message_tokens(messages, tools)

    # ---------------------------------------------------------------------- requests

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments of one client call (the shared rules of
        ``nugen_shared.requests.chat_request``: fields, then ``model_kwargs``, then ``kwargs``)."""
        fields, call = self._request_layers(stop, kwargs)
        fields["use_vision_endpoint"] = self.use_vision_endpoint
        wire_messages = to_wire_messages(messages, max_image_bytes=self.image_limit)
        return chat_request(wire_messages, fields, self.model_kwargs, call, ignore=LC_KWARGS)

    def _stream_request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        run_manager: RunManager | None,
    ) -> tuple[dict[str, Any], StreamConverter]:
        request = self._streaming_request(
            self._request(messages, stop, kwargs), kwargs, run_manager
        )
        converter = StreamConverter(
            stream_usage=request["include_usage"], requested_model=request["model"]
        )
        return request, converter

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        with mapped_errors():
            completion = self._sync_client().chat_completion(
                **request, on_retry=on_retry(run_manager)
            )
        return completion_to_chat_result(completion, request["model"])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        with mapped_errors():
            completion = await self._async_client().chat_completion(
                **request, on_retry=on_retry(run_manager)
            )
        return completion_to_chat_result(completion, request["model"])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request, converter = self._stream_request(messages, stop, kwargs, run_manager)
        with mapped_errors():
            chunks = self._sync_client().stream_chat_completion(**request)
            yield from relay(converter, chunks, run_manager)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request, converter = self._stream_request(messages, stop, kwargs, run_manager)
        with mapped_errors():
            chunks = self._async_client().stream_chat_completion(**request)
            async for piece in arelay(converter, chunks, run_manager):
                yield piece

    # ------------------------------------------------------------ tools and structure

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: _DictOrPydanticClass | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (anything ``convert_to_openai_tool`` takes) to the model.

        Args:
            tools: Tool definitions: LangChain tools, functions, pydantic classes,
                ``TypedDict`` classes or OpenAI tool dicts.
            tool_choice: ``"auto"``, ``"none"``, a tool name (forces that tool),
                ``"any"`` / ``"required"`` / ``True`` (forces a call: the tool by name when
                only one is bound, else ``"required"``), or the dict form
                ``{"type": "function", "function": {"name": ...}}``.
            strict: Passed to ``convert_to_openai_tool`` (strict JSON schemas).
            parallel_tool_calls: Sent as the body field of that name when set.
            response_format: A JSON schema, pydantic class or ``response_format`` dict for
                the answer the model gives when it calls no tool (LangChain agents use it).
            kwargs: Any other request parameter, bound as well.
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        if tool_choice is not None:
            # Converted (and checked against the tools) with each request, like a
            # tool_choice given per call.
            kwargs["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        if response_format is not None:
            kwargs["response_format"] = _response_format(response_format, strict)
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: _DictOrPydanticClass | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _DictOrPydantic]:
        """A runnable that answers with ``schema``-shaped output.

        Args:
            schema: A pydantic class (answers are instances of it), a ``TypedDict``
                class, a JSON schema or an OpenAI tool/function schema (answers are dicts).
                Optional only with ``method="json_mode"``.
            method: ``"function_calling"`` (default: a forced call of a tool shaped like
                the schema), ``"json_schema"`` (``response_format`` with the schema) or
                ``"json_mode"`` (``response_format={"type": "json_object"}``; describe the
                keys in the prompt).
            include_raw: Return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``
                instead of raising when the answer does not parse.
            strict: Strict schema adherence (function calling and json_schema).
            kwargs: Other parameters bound to the model.
        """
        if method == "json_mode" and strict is not None:
            raise ValueError("strict is not supported with method='json_mode'")
        if schema is None and method != "json_mode":
            raise ValueError(f"schema is required with method={method!r}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        # What LangSmith records about the requested structure (only when there is a schema).
        format_kwargs: dict[str, Any] = {}
        if schema is not None:
            format_kwargs["ls_structured_output_format"] = {
                "kwargs": {"method": method, "strict": strict},
                "schema": schema,
            }
        output_parser: Runnable[Any, Any]
        if method == "function_calling":
            assert schema is not None
            tool_name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools(
                [schema],
                tool_choice=tool_name,
                strict=strict,
                **format_kwargs,
                **kwargs,
            )
            if is_pydantic:
                output_parser = PydanticToolsParser(
                    tools=[cast("type[BaseModel]", schema)], first_tool_only=True
                )
            else:
                output_parser = JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True)
        elif method in ("json_mode", "json_schema"):
            if method == "json_mode":
                response_format: dict[str, Any] = {"type": "json_object"}
            else:
                assert schema is not None
                response_format = _response_format(schema, strict)
            llm = self.bind(response_format=response_format, **format_kwargs, **kwargs)
            output_parser = (
                PydanticOutputParser(pydantic_object=cast("type[BaseModel]", schema))
                if is_pydantic
                else JsonOutputParser()
            )
        else:
            raise ValueError(
                f"method must be 'function_calling', 'json_mode' or 'json_schema', got {method!r}"
            )
        if include_raw:
            parser_assign = RunnablePassthrough.assign(
                parsed=itemgetter("raw") | output_parser, parsing_error=lambda _: None
            )
            parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
            parser_with_fallback = parser_assign.with_fallbacks(
                [parser_none], exception_key="parsing_error"
            )
            return RunnableMap(raw=llm) | parser_with_fallback
        return llm | output_parser


def _response_format(schema: Mapping[str, Any] | type, strict: bool | None) -> dict[str, Any]:
    """A ``response_format`` body field (``json_schema``) from any schema form."""
    if isinstance(schema, Mapping):
        if schema.get("type") in ("json_schema", "json_object", "text"):
            return dict(schema)  # already a response_format
        if "name" in schema and "schema" in schema:
            json_schema = dict(schema)
            if strict is not None:
                json_schema["strict"] = strict
            return {"type": "json_schema", "json_schema": json_schema}
    function = convert_to_openai_function(schema, strict=strict)
    json_schema = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        json_schema["description"] = function["description"]
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}

"""``ChatNugen``: LangChain chat model over the Nugen inference API."""

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast, overload

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel

from langchain_nugen import _compat
from langchain_nugen._base import LC_KWARGS, NugenModel, SessionFromConfig, on_retry, shown_keywords
from langchain_nugen._convert import completion_to_chat_result, summed_usage, to_wire_messages
from langchain_nugen._errors import mapped_errors
from langchain_nugen._stream import StreamConverter
from langchain_nugen._structured import (
    JsonCallParser,
    JsonParser,
    PydanticCallParser,
    PydanticJsonParser,
    parsed_format,
    with_parsed,
    with_raw,
)
from langchain_nugen._tokens import count_message_tokens
from nugen_client import InvalidInputError
from nugen_shared.fields import ImageLimitField, ReasoningField
from nugen_shared.models import FALLBACK_MAX_OUTPUT_TOKENS, model_info, prompt_budget
from nugen_shared.requests import chat_request

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["ChatNugen"]

_compat.register()

_REASONING_EFFORTS = ["xhigh", "high", "medium", "low", "minimal", "none"]

_DictOrPydanticClass = dict[str, Any] | type
_DictOrPydantic = dict[str, Any] | BaseModel
_Model = TypeVar("_Model", bound=BaseModel)
_Method = Literal["function_calling", "json_mode", "json_schema"]


class ChatNugen(NugenModel, ImageLimitField, ReasoningField, SessionFromConfig, BaseChatModel):
    r"""Nugen chat models (text, vision, tools, reasoning) in LangChain.

    Talks to the Nugen inference API (`POST /chat/completions`, or `/chat/vision`) through
    the shared `nugen_client`: pooled connections, local validation of every request,
    retries with backoff and `Retry-After`, typed errors. It works unchanged against
    OpenAI-compatible hosts (`base_url="https://inference.nebulablock.com/v1"`): only the
    parameters you set are sent, plus `stream_options` on streaming requests (turn it off
    with `stream_usage=False`).

    ???+ info "Setup"

        ```bash
        pip install "nugen-integrations[langchain]"
        export NUGEN_API_KEY="your-api-key"
        ```

        `init_chat_model("nugen:...")` does not apply (LangChain's provider list is
        closed): instantiate `ChatNugen` wherever a chat model is accepted.

    ??? info "Key init args"

        - `model`: default `nugen-flash-instruct` (alias `model_name`).
        - `temperature` (0 to 2), `max_tokens`, `top_p`, `top_k`, `stop`, `n`,
          `prompt_truncate_len`, `reasoning` (`{"effort": "low", "max_tokens": 512, ...}`):
          sent only when set, so the service's defaults apply otherwise.
        - `streaming` (`invoke` streams internally), `stream_usage` (usage on the last
          streamed chunk, default `True`), `model_kwargs` (extra body fields; unknown
          keywords land there too), `use_vision_endpoint` (`/chat/vision`: answers whole,
          takes no tools).
        - `api_key` (env `NUGEN_API_KEY`), `base_url` (env `NUGEN_BASE_URL`), `timeout`
          (idle seconds, 120), `max_retries` (2), `deadline` (seconds per call, 600),
          `session_id` / `provider` (sent as `X-Session-ID` / `X-Provider`),
          `default_headers`, `max_image_bytes`, `max_response_bytes`, `max_event_bytes`,
          `allow_insecure_http`.

        A missing API key is reported at the first call. A pickle carries the key (as a
        `SecretStr`); `repr`, errors, logs and `dumps` never show it.

    ??? info "Invoke, stream and async"

        ```python
        from langchain_nugen import ChatNugen

        model = ChatNugen(model="nugen-flash-instruct", temperature=0)
        model.invoke([("system", "Translate to French."), ("human", "I love programming.")])
        for chunk in model.stream("Tell me a joke"):
            print(chunk.text, end="")
        ```

        Every parameter can be set per call, the Nugen headers included:
        `model.invoke("Hi", temperature=0.2, session_id="conv-42")`. A stream's last
        chunk is empty, has `chunk_position="last"` and alone carries the usage and the
        response metadata. `ainvoke`, `astream` and `abatch` work the same.

    ??? info "Tool calling and structured output"

        ```python
        from pydantic import BaseModel, Field


        class GetWeather(BaseModel):
            '''Get the current weather in a given location'''

            location: str = Field(..., description="The city and state, e.g. Boston, MA")


        ai_msg = model.bind_tools([GetWeather]).invoke("What is the weather in Boston?")
        ai_msg.tool_calls  # [{"name": "GetWeather", "args": {"location": "Boston, MA"}, ...}]
        model.with_structured_output(GetWeather).invoke("Weather in Boston?")
        ```

        Arguments that are not valid JSON land in `invalid_tool_calls` instead of raising;
        streamed calls arrive as `tool_call_chunks` that add up to whole calls.

    ??? info "Vision"

        ```python
        from langchain_core.messages import HumanMessage

        image = {"type": "image", "url": "https://example.com/cat.jpg"}
        message = HumanMessage([{"type": "text", "text": "Describe this image."}, image])
        ChatNugen(model="nugen-flash-vision").invoke([message])
        ```

        Images are https URLs or base64 data, in any of LangChain's image block forms;
        audio, PDF/file blocks and file ids are refused with a `ValueError` naming the
        block, before any request.

    ??? info "Reasoning, token usage and response metadata"

        ```python
        msg = ChatNugen(reasoning={"effort": "low"}).invoke("What is 17 * 23?")
        msg.additional_kwargs["reasoning_content"]  # a "reasoning" block in content_blocks
        msg.usage_metadata  # {"input_tokens": 28, "output_tokens": 5, "total_tokens": 33}
        msg.response_metadata  # model_provider, model_name, finish_reason, id, timing, ...
        ```

        `model_name` is the model the service says it ran; `confidence_score` comes only
        from domain-aligned models (`nugen-legal`; no documented scale). `model.profile`
        describes the model, its `max_input_tokens` what the service keeps of a prompt
        (`prompt_truncate_len`, else the service's 1500), and
        `get_num_tokens_from_messages` is an offline estimate, so
        `trim_messages(token_counter=model)` works offline. Errors are both `nugen_client`
        and `langchain_core.exceptions` classes (`ModelRateLimitError`,
        `ContextOverflowError`, ...), so `with_retry` and `with_fallbacks` recognise them.
    """

    _sampling_fields: ClassVar[tuple[str, ...]] = (
        *NugenModel._sampling_fields,
        *ReasoningField.model_fields,
    )
    _ls_model_type: ClassVar[Literal["chat", "llm"]] = "chat"
    _stream_is_one: ClassVar[str] = "message"
    _stream_method: ClassVar[str] = "stream_chat_completion"

    use_vision_endpoint: bool = False
    """Send requests to `/chat/vision` (answers whole) instead of `/chat/completions`."""

    # ------------------------------------------------------------------ LangChain API

    @property
    def _llm_type(self) -> str:
        return "nugen-chat"

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # What callbacks and LangSmith traces receive: BaseChatModel's, read from asdict()
        # rather than through the deprecated dict() and its warning filter.
        return {**self.asdict(), "stop": stop, **shown_keywords(kwargs)}

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        # The cache key.
        return super()._get_llm_string(stop, **shown_keywords(kwargs))

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        """``generate()``'s ``llm_output``, as ``ChatOpenAI``'s: the first request's, with
        the token usage of every request summed; ``model_name`` and ``token_usage`` (``{}``:
        no counts) also when no request reported them (streamed or cached answers give
        LangChain no ``llm_output``)."""
        outputs = [output for output in llm_outputs if output]
        combined = {"token_usage": {}, "model_name": self.model, **(outputs[0] if outputs else {})}
        usages = [output["token_usage"] for output in outputs if output.get("token_usage")]
        if usages:
            combined["token_usage"] = summed_usage(usages)
        return combined

    def __setattr__(self, name: str, value: Any) -> None:
        # The profile is made once, at construction: assigning a field it is made of
        # (``model_copy(update=...)`` assigns) makes it again, unless it was given.
        remake = name in ("model", "prompt_truncate_len", "use_vision_endpoint") and (
            self.profile == self._resolve_model_profile()
        )
        super().__setattr__(name, value)
        if remake:
            super().__setattr__("profile", self._resolve_model_profile())

    def _resolve_model_profile(self) -> ModelProfile | None:
        info = model_info(self.model)
        # /chat/vision takes no tools and no response_format.
        images, tools = info.image_inputs, info.tool_calling and not self.use_vision_endpoint
        max_output = info.max_output_tokens
        profile = ModelProfile(
            text_inputs=True,
            text_outputs=True,
            image_inputs=images,
            image_url_inputs=images,
            image_tool_message=images,
            pdf_inputs=False,
            audio_inputs=False,
            video_inputs=False,
            tool_calling=tools,
            tool_choice=tools,
            tool_call_streaming=tools,
            structured_output=info.structured_output and not self.use_vision_endpoint,
            reasoning_output=info.reasoning,
            temperature=True,
            # What the service keeps of a prompt (prompt_truncate_len, else its default),
            # so trimming and summarising middleware fit prompts to it.
            max_input_tokens=prompt_budget(self.prompt_truncate_len),
            max_output_tokens=FALLBACK_MAX_OUTPUT_TOKENS if max_output is None else max_output,
        )
        if info.reasoning:
            profile["reasoning_effort_levels"] = list(_REASONING_EFFORTS)
        return profile

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Offline estimate of the prompt tokens of ``messages`` (and ``tools``), their texts
        counted by :meth:`get_num_tokens` (``custom_get_token_ids`` when given)."""
        return count_message_tokens(messages, tools, self.get_num_tokens)

    # ---------------------------------------------------------------------- requests

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments of one client call (the shared rules of
        ``nugen_shared.requests.chat_request``: fields, then ``model_kwargs``, then ``kwargs``).
        A ``response_format`` bound as a schema (``bind(response_format=Model)``, as
        ``ChatOpenAI`` takes it) is sent as its ``json_schema`` form."""
        if (response_format := kwargs.get("response_format")) is not None:
            try:
                response_format = _response_format(response_format, None)
            except ValueError:  # LangChain's "Unsupported function", which speaks of tools
                raise InvalidInputError(
                    "response_format must be a response_format dict, a pydantic class, a "
                    f"TypedDict or a JSON schema with a title, got {response_format!r:.80}"
                ) from None
            kwargs = {**kwargs, "response_format": response_format}
        fields, call = self._request_layers(stop, kwargs)
        fields["use_vision_endpoint"] = self.use_vision_endpoint
        wire_messages = to_wire_messages(messages, max_image_bytes=self.image_limit)
        return chat_request(wire_messages, fields, self.model_kwargs, call, ignore=LC_KWARGS)

    def _converter(self, request: dict[str, Any], kwargs: dict[str, Any]) -> StreamConverter:
        return StreamConverter(
            stream_usage=request["include_usage"],
            requested_model=request["model"],
            schema=parsed_format(kwargs),
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with mapped_errors():
            request = self._request(messages, stop, kwargs)
            completion = self._sync_client().chat_completion(
                **request, on_retry=on_retry(run_manager)
            )
        return with_parsed(completion_to_chat_result(completion, request["model"]), kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with mapped_errors():
            request = self._request(messages, stop, kwargs)
            completion = await self._async_client().chat_completion(
                **request, on_retry=on_retry(run_manager)
            )
        return with_parsed(completion_to_chat_result(completion, request["model"]), kwargs)

    # ------------------------------------------------------------ tools and structure

    def bind_tools(
        self,
        tools: "Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool]",
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: _DictOrPydanticClass | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic or ``TypedDict`` classes, OpenAI
        tool dicts) to the model.

        ``tool_choice``: ``"auto"``, ``"none"``, a tool name, ``"any"`` / ``"required"`` /
        ``True`` (forces a call: the tool by name when only one is bound) or the dict form.
        ``strict`` goes to ``convert_to_openai_tool``; ``parallel_tool_calls`` is sent when
        set; ``response_format`` (a schema or ``response_format`` dict) shapes an answer that
        calls no tool (LangChain agents use it); other keywords are bound as well.
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

    # For type checkers: a pydantic class gives its instances, include_raw=True a dict.
    @overload
    def with_structured_output(
        self,
        schema: type[_Model],
        *,
        method: _Method = "function_calling",
        include_raw: Literal[False] = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _Model]: ...
    @overload
    def with_structured_output(
        self,
        schema: _DictOrPydanticClass | None = None,
        *,
        method: _Method = "function_calling",
        include_raw: Literal[True],
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any]]: ...
    @overload
    def with_structured_output(
        self,
        schema: _DictOrPydanticClass | None = None,
        *,
        method: _Method = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _DictOrPydantic]: ...
    def with_structured_output(
        self,
        schema: _DictOrPydanticClass | None = None,
        *,
        method: _Method = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _DictOrPydantic]:
        """A runnable that answers with ``schema``-shaped output: instances of a pydantic
        class, dicts for a ``TypedDict``, JSON schema or OpenAI tool schema.

        ``method``: ``"function_calling"`` (a forced call of a tool shaped like the schema),
        ``"json_schema"`` (``response_format`` with the schema) or ``"json_mode"``
        (``{"type": "json_object"}``; describe the keys in the prompt, ``schema`` optional).
        ``include_raw=True`` returns ``{"raw", "parsed", "parsing_error"}`` instead of
        raising when the answer does not parse.
        """
        if method == "json_mode" and strict is not None:
            raise ValueError("strict is not supported with method='json_mode'")
        if schema is None and method != "json_mode":
            raise ValueError(f"schema is required with method={method!r}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        if schema is not None:  # what LangSmith records about the requested structure
            kwargs["ls_structured_output_format"] = {
                "kwargs": {"method": method, "strict": strict},
                "schema": schema,
            }
        output_parser: Runnable[Any, Any]
        if method == "function_calling":
            assert schema is not None
            tool = _as_function(schema)
            tool_name = convert_to_openai_tool(tool)["function"]["name"]
            llm = self.bind_tools([tool], tool_choice=tool_name, strict=strict, **kwargs)
            output_parser = (
                PydanticCallParser(
                    tools=[cast("type[BaseModel]", schema)],
                    key_name=tool_name,
                    first_tool_only=True,
                )
                if is_pydantic
                else JsonCallParser(key_name=tool_name, first_tool_only=True)
            )
        elif method in ("json_mode", "json_schema"):
            if method == "json_mode" or schema is None:
                response_format: dict[str, Any] = {"type": "json_object"}
            else:
                response_format = _response_format(schema, strict)
            llm = self.bind(response_format=response_format, **kwargs)
            output_parser = (
                PydanticJsonParser(pydantic_object=cast("type[BaseModel]", schema))
                if is_pydantic
                else JsonParser()
            )
        else:
            raise ValueError(
                f"method must be 'function_calling', 'json_mode' or 'json_schema', got {method!r}"
            )
        return llm | (with_raw(output_parser) if include_raw else output_parser)


def _as_function(schema: _DictOrPydanticClass) -> _DictOrPydanticClass:
    """``schema`` as a tool: a response_format's ``{"name", "schema"}`` becomes a function
    whose parameters are the schema (LangChain would read it as a function without any)."""
    if isinstance(schema, Mapping) and "name" in schema and "schema" in schema:
        function = {"name": schema["name"], "parameters": schema["schema"]}
        if schema.get("description"):
            function["description"] = schema["description"]
        return function
    return schema


def _response_format(schema: Mapping[str, Any] | type, strict: bool | None) -> dict[str, Any]:
    """A ``response_format`` body field (``json_schema``) from any schema form."""
    if isinstance(schema, Mapping) and schema.get("type") in ("json_schema", "json_object", "text"):
        return dict(schema)  # already a response_format
    if isinstance(schema, Mapping) and "name" in schema and "schema" in schema:
        json_schema = dict(schema)
    else:
        function = convert_to_openai_tool(schema, strict=strict)["function"]  # tool dicts too
        json_schema = {"name": function["name"], "schema": function["parameters"]}
        if function.get("description"):
            json_schema["description"] = function["description"]
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}

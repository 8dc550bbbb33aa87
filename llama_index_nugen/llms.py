"""``Nugen``: the Nugen inference API as a LlamaIndex ``FunctionCallingLLM``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms import types as li
from llama_index.core.base.llms.generic_utils import messages_to_prompt as generic_to_prompt
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.program import LLMTextCompletionProgram
from llama_index.core.program.utils import get_program_for_llm, process_streaming_objects
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import BasePydanticProgram, Model, PydanticProgramMode
from pydantic import Field

from llama_index_nugen import _convert
from llama_index_nugen._fields import ChatFields, Request
from llama_index_nugen._stream import ChatStream
from nugen_client import InvalidInputError
from nugen_shared.models import DEFAULT_CHAT_MODEL

if TYPE_CHECKING:
    from llama_index.core.chat_engine.types import AgentChatResponse
    from llama_index.core.program.utils import FlexibleModel
    from llama_index.core.tools.types import BaseTool

__all__ = ["Nugen"]

_CHECK_TOOL_NAMES: ContextVar[bool] = ContextVar("nugen_check_tool_names", default=False)


class Nugen(ChatFields, FunctionCallingLLM):
    """Nugen chat and text models as a LlamaIndex LLM (`FunctionCallingLLM`).

    Chat, completion, streaming, async, tool calling, structured output and image inputs
    (`ImageBlock`s) over the Nugen inference API (`POST /chat/completions`, or
    `/completions` with `is_chat_model=False`, or `/chat/vision`), through the shared
    `nugen_client`: pooled httpx connections, local validation of every request, retries
    with backoff and `Retry-After`, typed errors. Any OpenAI-compatible host works too.

    Args:
        model: Default `nugen-flash-instruct` (alias `model_name`); any name works, the
            ones Nugen lists get real metadata.
        temperature, max_tokens, top_p, top_k, stop, prompt_truncate_len: Sampling; unset
            ones are not sent (the service's defaults apply).
        reasoning: `{"effort": "xhigh|high|medium|low|minimal|none", "max_tokens": int,
            "exclude": bool, "enabled": bool}`; the text arrives as a `ThinkingBlock`.
        additional_kwargs: Extra body fields sent with every request, unvalidated.
        api_key: A `SecretStr`; env `NUGEN_API_KEY` when unset. Never in `repr`,
            `to_dict()`, logs or errors; a pickle carries it to worker processes.
        base_url: Env `NUGEN_BASE_URL` (alias `api_base`), else the Nugen API; plain
            `http://` only to loopback unless `allow_insecure_http=True`.
        session_id, provider: Sent as `X-Session-ID` / `X-Provider`; also per call.
        timeout: Idle seconds (connect, first byte, each chunk); `None` means 120.
        max_retries: Retries of connection errors, timeouts, 408, 409, 429, 5xx (2).
        default_headers: Sent with every request (values redacted when shown).
        deadline: Seconds a whole call may take, retries included (600; `None`: no limit).
        max_response_bytes, max_event_bytes, max_image_bytes: Largest answer (64 MiB),
            stream event (16 MiB) and local image (20 MiB).
        use_vision_endpoint: Send to `/chat/vision` (answers whole; takes no tools).
        context_window: Overrides the context window in `metadata`; unset, it is the
            prompt budget (`prompt_truncate_len`, else the service's default 1500, to
            which it truncates prompts) plus `num_output`, so prompts are packed to fit.
        is_function_calling_model: Overrides the model table's tool-calling flag.
        is_chat_model: `False`: `complete` posts the prompt to `/completions`, and `chat`
            the text of `messages_to_prompt`; that endpoint takes no tools, so
            `is_function_calling_model` is then `False`. A call's
            `use_chat_completions=` (as OpenAI's) picks the endpoint of that call.

    Examples:
        `pip install "nugen-integrations[llama-index]"` and set `NUGEN_API_KEY`.

        ```python
        from llama_index.core.llms import ChatMessage
        from llama_index.llms.nugen import Nugen

        llm = Nugen(model="nugen-flash-instruct", temperature=0.2)
        print(llm.complete("Paris is the capital of"))
        response = llm.chat([ChatMessage(role="user", content="Hello")], session_id="s1")
        print(response.additional_kwargs)  # token counts, finish_reason, timing, ...

        for r in llm.stream_chat([ChatMessage(role="user", content="Tell me a story")]):
            print(r.delta, end="")
        ```

        Async: `achat`, `acomplete`, `astream_chat`. Tools: `FunctionAgent(tools=[...],
        llm=llm)`, `llm.predict_and_call(tools, ..., tool_required=True)`; structured
        output: `llm.as_structured_llm(City)`. Images: `ChatMessage(role="user",
        blocks=[TextBlock(text=...), ImageBlock(path="cat.png")])` with a vision model.

        Results: `additional_kwargs` holds `prompt_tokens`, `completion_tokens`,
        `total_tokens`, `finish_reason`, `timing` and, for domain-aligned models
        (`nugen-legal`), `confidence_score`; `raw` is the response (or a stream's final
        chunk) as a dict. Tool calls are `ToolCallBlock`s and
        `message.additional_kwargs["tool_calls"]`. Errors are the `nugen_client` classes;
        bad input raises `InvalidInputError` (a `ValueError`) before any request.
    """

    model: str = Field(default=DEFAULT_CHAT_MODEL, description="The model to use.")
    is_function_calling_model: bool | None = Field(
        default=None, description="Overrides the model table's tool-calling flag."
    )
    is_chat_model: bool = Field(
        default=True, description="False: text completions (/completions), not the chat endpoint."
    )

    @classmethod
    def class_name(cls) -> str:
        return "Nugen"

    @property
    def metadata(self) -> li.LLMMetadata:
        fields = self._metadata_fields()
        # /completions takes no tools, whatever the model.
        fields["is_function_calling_model"] &= self.is_chat_model
        if self.is_function_calling_model is not None:
            fields["is_function_calling_model"] = self.is_function_calling_model
        return li.LLMMetadata(**fields, is_chat_model=self.is_chat_model)

    # -- chat and completion ---------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponse:
        return self._send(self._chat_request(messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponse:
        return await self._asend(self._chat_request(messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponseGen:
        return self._send_stream(self._chat_request(messages, kwargs), ChatStream.chat_response)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[li.ChatMessage], **kwargs: Any
    ) -> li.ChatResponseAsyncGen:
        return self._asend_stream(self._chat_request(messages, kwargs), ChatStream.chat_response)

    @llm_completion_callback()
    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> li.CompletionResponse:
        response = self._send(self._complete_request(prompt, formatted, kwargs))
        return _convert.chat_to_completion_response(response)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> li.CompletionResponse:
        response = await self._asend(self._complete_request(prompt, formatted, kwargs))
        return _convert.chat_to_completion_response(response)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> li.CompletionResponseGen:
        request = self._complete_request(prompt, formatted, kwargs)
        return self._send_stream(request, ChatStream.completion_response)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> li.CompletionResponseAsyncGen:
        request = self._complete_request(prompt, formatted, kwargs)
        return self._asend_stream(request, ChatStream.completion_response)

    def _chat_request(
        self, messages: Sequence[li.ChatMessage], kwargs: Mapping[str, Any]
    ) -> Request:
        if kwargs.get("use_chat_completions", self.is_chat_model):
            return super()._chat_request(messages, kwargs)
        _convert.check_text_only(messages)
        prompt = (self.messages_to_prompt or generic_to_prompt)(messages)
        return self._text_request(prompt, "the prompt messages_to_prompt returned", kwargs)

    def _complete_request(self, prompt: str, formatted: bool, kwargs: Mapping[str, Any]) -> Request:
        if not formatted and self.completion_to_prompt is not None:
            prompt = self.completion_to_prompt(prompt)
        if not kwargs.get("use_chat_completions", self.is_chat_model):
            return self._text_request(prompt, "the prompt", kwargs)
        return self._request([{"role": "user", "content": prompt}], kwargs)

    def _text_request(self, prompt: object, what: str, kwargs: Mapping[str, Any]) -> Request:
        # Anything but text would be taken for chat messages and go to the chat endpoint.
        if not isinstance(prompt, str):
            raise InvalidInputError(
                f"{what} must be a str (/completions, is_chat_model=False), "
                f"got {type(prompt).__name__}"
            )
        return self._request(prompt, kwargs)

    # -- tool calling ---------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | li.ChatMessage | None = None,
        chat_history: list[li.ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` kwargs for a turn with tools; ``chat_history`` is copied, not
        extended. ``tool_required=True`` forces a call (the tool by name when there is
        one, "required" with several); an explicit ``tool_choice`` wins over it."""
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        if isinstance(user_msg, str):
            user_msg = li.ChatMessage(role=li.MessageRole.USER, content=user_msg)
        messages = list(chat_history or ())
        if user_msg is not None:
            messages.append(user_msg)
        prepared: dict[str, Any] = {"messages": messages, **kwargs}
        if specs:
            prepared["tools"] = specs
            # Converted (and a name checked against the tools) by the request rule.
            choice = "required" if tool_choice is None and tool_required else tool_choice
            if choice is not None:
                prepared["tool_choice"] = choice
        return prepared

    def _validate_chat_with_tools_response(
        self,
        response: li.ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> li.ChatResponse:
        if not allow_parallel_tool_calls:
            _convert.force_single_tool_call(response)
        if _CHECK_TOOL_NAMES.get():
            _convert.check_tool_names(response, [tool.metadata.name or "" for tool in tools])
        return response

    # predict_and_call (and the structured-output programs built on it) looks each called
    # tool up by name, a bare KeyError for a tool not given: the names are checked there.
    # An agent reports such a call to the model instead, so chat_with_tools keeps it.

    def predict_and_call(self, *args: Any, **kwargs: Any) -> AgentChatResponse:
        token = _CHECK_TOOL_NAMES.set(True)
        try:
            return super().predict_and_call(*args, **kwargs)
        finally:
            _CHECK_TOOL_NAMES.reset(token)

    async def apredict_and_call(self, *args: Any, **kwargs: Any) -> AgentChatResponse:
        token = _CHECK_TOOL_NAMES.set(True)
        try:
            return await super().apredict_and_call(*args, **kwargs)
        finally:
            _CHECK_TOOL_NAMES.reset(token)

    def get_tool_calls_from_response(
        self,
        response: li.ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """Tool calls of a response; mid-stream partial arguments parse leniently."""
        return _convert.tool_selections(response, error_on_no_tool_call)

    # -- streamed structured output ---------------------------------------------------------

    def _program(
        self, output_cls: type[Model], prompt: PromptTemplate
    ) -> BasePydanticProgram[Model]:
        """The program of streamed structured output, its tool call forced when it has one
        (``FUNCTION`` mode, or ``DEFAULT`` with function calling):
        ``FunctionCallingProgram.stream_call`` drops ``tool_required``, so the model could
        answer in prose (an empty object), where ``structured_predict`` forces the tool."""
        mode = self.pydantic_program_mode
        forced = mode == PydanticProgramMode.FUNCTION or (
            mode == PydanticProgramMode.DEFAULT and self.metadata.is_function_calling_model
        )
        extra = {"tool_choice": "required"} if forced else {}
        return get_program_for_llm(output_cls, prompt, self, pydantic_program_mode=mode, **extra)

    def _structured_stream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None, None]:
        program = self._program(output_cls, prompt)
        if not isinstance(program, LLMTextCompletionProgram):
            return program.stream_call(llm_kwargs=llm_kwargs, **prompt_args)
        # As LLMTextCompletionProgram.stream_call streams, the whole answer checked at its end.
        kwargs, objects = llm_kwargs or {}, _JsonObjects(self, output_cls)
        if self.is_chat_model:
            messages = self._program_messages(program, prompt_args)
            return objects.of(self.stream_chat(messages, **kwargs))
        text = program.prompt.format(llm=self, **prompt_args)
        return objects.of(self.stream_complete(text, **kwargs))

    async def _structured_astream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None]:
        program = self._program(output_cls, prompt)
        if not isinstance(program, LLMTextCompletionProgram):
            return await program.astream_call(llm_kwargs=llm_kwargs, **prompt_args)
        kwargs, objects = llm_kwargs or {}, _JsonObjects(self, output_cls)
        if self.is_chat_model:
            messages = self._program_messages(program, prompt_args)
            return objects.aof(await self.astream_chat(messages, **kwargs))
        text = program.prompt.format(llm=self, **prompt_args)
        return objects.aof(await self.astream_complete(text, **kwargs))

    def _program_messages(
        self, program: LLMTextCompletionProgram[Any], prompt_args: dict[str, Any]
    ) -> list[li.ChatMessage]:
        return self._extend_messages(program.prompt.format_messages(llm=self, **prompt_args))


class _JsonObjects:
    """The objects of a streamed JSON answer, parsed leniently as they arrive (LlamaIndex's
    ``process_streaming_objects``); a finished answer that is not complete JSON raises,
    where that parse would end the stream on a shorter object."""

    def __init__(self, llm: Nugen, output_cls: type[Model]) -> None:
        self._llm, self._output_cls = llm, output_cls
        self._objects: Any = None  # the last parsed, kept when a chunk does not parse

    def step(self, response: li.ChatResponse | li.CompletionResponse) -> Any:
        _convert.check_whole_json(response)
        parsed = process_streaming_objects(response, self._output_cls, self._objects, llm=self._llm)
        self._objects = parsed if isinstance(parsed, list) else [parsed]
        return parsed

    def of(
        self, responses: Iterator[li.ChatResponse | li.CompletionResponse]
    ) -> Generator[Any, None, None]:
        return (self.step(response) for response in responses)

    async def aof(
        self, responses: AsyncIterator[li.ChatResponse | li.CompletionResponse]
    ) -> AsyncGenerator[Any, None]:
        async for response in responses:
            yield self.step(response)

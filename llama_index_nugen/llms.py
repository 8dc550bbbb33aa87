"""``Nugen``: the Nugen inference API as a LlamaIndex ``FunctionCallingLLM``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    messages_to_prompt as generic_messages_to_prompt,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import Model, PydanticProgramMode
from pydantic import Field

from llama_index_nugen import _calls, _convert, _stream
from llama_index_nugen._fields import ChatFields, Request
from nugen_shared.models import (
    DEFAULT_CHAT_MODEL,
    FALLBACK_CONTEXT_WINDOW,
    FALLBACK_MAX_OUTPUT_TOKENS,
    model_info,
)

if TYPE_CHECKING:
    from llama_index.core.program.function_program import FunctionCallingProgram
    from llama_index.core.program.utils import FlexibleModel
    from llama_index.core.tools.types import BaseTool

__all__ = ["Nugen"]


@_calls.seal_call_headers
class Nugen(ChatFields, FunctionCallingLLM):
    """Nugen chat models (``nugen-flash-instruct``, ``nugen-legal``, vision models, ...).

    Setup:
        ``pip install "nugen-integrations[llama-index]"`` and set ``NUGEN_API_KEY``.

    Key init args (sampling; only what you set is sent):
        model: Model name (default ``nugen-flash-instruct``). Any name works; known
            names get real metadata.
        temperature, max_tokens, top_p, top_k, stop, prompt_truncate_len: as documented
            by the service.
        reasoning: ``{"effort": "low", "max_tokens": 256, "exclude": False, "enabled": True}``.
        additional_kwargs: Extra body fields sent with every request.

    Key init args (client):
        api_key: ``SecretStr`` (env ``NUGEN_API_KEY``); never in ``to_dict`` / ``repr``
            (a pickle carries it, so worker processes authenticate).
        base_url: Env ``NUGEN_BASE_URL``; any OpenAI-compatible host works too.
        session_id / provider: Sent as ``X-Session-ID`` / ``X-Provider``.
        timeout (idle timeout in seconds; None: the default 120), max_retries (default
            2), default_headers (values other than safe ones such as
            X-Session-ID redacted when serialised).
        use_vision_endpoint: Send requests to ``/chat/vision``.
        context_window / is_function_calling_model: Override the model table.
        is_chat_model: ``False`` sends ``complete`` (and ``chat``, through
            ``messages_to_prompt``) to the text completions endpoint ``/completions``;
            default ``True`` (``/chat/completions``) for every model.

    Instantiate:
        .. code-block:: python

            from llama_index.llms.nugen import Nugen

            llm = Nugen(model="nugen-flash-instruct", temperature=0.2)

    Invoke:
        .. code-block:: python

            from llama_index.core.llms import ChatMessage

            llm.complete("Paris is the capital of")
            llm.chat([ChatMessage(role="user", content="Hello")], session_id="s1")

    Stream (each response holds the whole answer so far and its ``delta``):
        .. code-block:: python

            for r in llm.stream_chat([ChatMessage(role="user", content="Tell me a story")]):
                print(r.delta, end="")

    Async:
        ``await llm.achat(...)``, ``await llm.acomplete(...)``,
        ``async for r in await llm.astream_chat(...)``.

    Tool calling:
        .. code-block:: python

            from llama_index.core.tools import FunctionTool

            def get_weather(city: str) -> str:
                "Weather in a city."
                return "sunny"

            tool = FunctionTool.from_defaults(get_weather)
            llm.predict_and_call([tool], "What's the weather in Paris?")
            # or: FunctionAgent(tools=[tool], llm=llm); tool_required=True forces a call.

    Structured output:
        ``llm.structured_predict(MyModel, PromptTemplate("..."))`` or
        ``llm.as_structured_llm(MyModel).chat(...)`` (function calling under the hood).

    Vision:
        .. code-block:: python

            from llama_index.core.llms import ImageBlock, TextBlock

            msg = ChatMessage(role="user", blocks=[
                TextBlock(text="What is in this picture?"),
                ImageBlock(path="cat.png"),  # or url="https://...", or image=b"..."
            ])
            Nugen(model="nugen-flash-vision").chat([msg])

    Text completions:
        .. code-block:: python

            llm = Nugen(model="qwen-v2p5-0p5b-instruct", is_chat_model=False)
            llm.complete("To infinity, and")  # POST /completions

    Token usage / response metadata:
        ``response.additional_kwargs`` holds ``prompt_tokens``, ``completion_tokens``,
        ``total_tokens``, ``finish_reason``, (domain-aligned models) ``confidence_score``
        and the service's ``timing`` when it sends one; ``response.raw`` is the response
        as a dict (with ``usage`` and the model the service says it ran). Reasoning arrives as a
        ``ThinkingBlock``; tool calls as ``ToolCallBlock``s and
        ``message.additional_kwargs["tool_calls"]``.

    Errors are the ``nugen_client`` classes (``AuthenticationError``, ``RateLimitError``,
    ``InvalidInputError`` for bad input, refused before any request, ...).
    """

    model: str = Field(default=DEFAULT_CHAT_MODEL, description="The model to use.")
    context_window: int | None = Field(
        default=None, gt=0, description="Overrides the model table's context window."
    )
    is_function_calling_model: bool | None = Field(
        default=None, description="Overrides the model table's tool-calling flag."
    )
    is_chat_model: bool = Field(
        default=True,
        description="True: the chat endpoint (/chat/completions). False: text completions "
        "(/completions): complete() posts the prompt, chat() the messages_to_prompt text.",
    )

    @classmethod
    def class_name(cls) -> str:
        return "Nugen"

    @property
    def metadata(self) -> LLMMetadata:
        info = model_info(self.model)
        function_calling = self.is_function_calling_model
        return LLMMetadata(
            context_window=self.context_window or info.context_window or FALLBACK_CONTEXT_WINDOW,
            num_output=self.max_tokens or info.max_output_tokens or FALLBACK_MAX_OUTPUT_TOKENS,
            is_chat_model=self.is_chat_model,
            # The vision endpoint takes no tools, whatever the model.
            is_function_calling_model=(
                info.tool_calling and not self.use_vision_endpoint
                if function_calling is None
                else function_calling
            ),
            model_name=self.model,
        )

    # -- chat and completion ---------------------------------------------------------------
    # With is_chat_model=False every form posts to /completions: chat through the
    # (overridable) messages_to_prompt, complete through completion_to_prompt.

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return _calls.chat(self, self._chat_request(messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await _calls.achat(self, self._chat_request(messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        chunks = _calls.stream(self, self._chat_request(messages, kwargs))
        return _stream.stream_chat_responses(chunks)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = _calls.astream(self, self._chat_request(messages, kwargs))
        return _stream.astream_chat_responses(chunks)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = _calls.chat(self, self._complete_request(prompt, formatted, kwargs))
        return _convert.chat_to_completion_response(response)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        response = await _calls.achat(self, self._complete_request(prompt, formatted, kwargs))
        return _convert.chat_to_completion_response(response)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        chunks = _calls.stream(self, self._complete_request(prompt, formatted, kwargs))
        return _stream.stream_completion_responses(chunks)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chunks = _calls.astream(self, self._complete_request(prompt, formatted, kwargs))
        return _stream.astream_completion_responses(chunks)

    def _chat_request(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> Request:
        if not self.is_chat_model:
            to_prompt = self.messages_to_prompt or generic_messages_to_prompt
            return self._request(to_prompt(messages), kwargs)
        return self._request(self._wire_messages(messages), kwargs)

    def _complete_request(self, prompt: str, formatted: bool, kwargs: Mapping[str, Any]) -> Request:
        """A completion is a one-message chat, or with ``is_chat_model=False`` the prompt."""
        if not formatted and self.completion_to_prompt is not None:
            prompt = self.completion_to_prompt(prompt)
        if not self.is_chat_model:
            return self._request(prompt, kwargs)
        return self._request([{"role": MessageRole.USER.value, "content": prompt}], kwargs)

    # -- tool calling ---------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
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
        messages = list(chat_history or ())
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
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
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        if not allow_parallel_tool_calls:
            _convert.force_single_tool_call(response)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """Tool calls of a response; mid-stream partial arguments parse leniently."""
        return _convert.tool_selections(response, error_on_no_tool_call)

    # -- streamed structured output ---------------------------------------------------------

    def _forced_program(
        self, output_cls: type[Model], prompt: PromptTemplate
    ) -> FunctionCallingProgram[Model] | None:
        """The function-calling program for streamed structured output, with the call forced.

        LlamaIndex's ``FunctionCallingProgram.stream_call`` drops ``tool_required``, so the
        model may answer in prose and the stream yields an empty object; forcing the output
        tool (as ``structured_predict`` does) makes streaming and non-streaming agree.
        """
        if (
            self.pydantic_program_mode != PydanticProgramMode.DEFAULT
            or not self.metadata.is_function_calling_model
        ):
            return None
        from llama_index.core.program.function_program import FunctionCallingProgram

        return FunctionCallingProgram.from_defaults(
            output_cls=output_cls, prompt=prompt, llm=self, tool_choice="required"
        )

    def _structured_stream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None, None]:
        program = self._forced_program(output_cls, prompt)
        if program is None:
            return super()._structured_stream_call(output_cls, prompt, llm_kwargs, **prompt_args)
        return program.stream_call(llm_kwargs=llm_kwargs, **prompt_args)

    async def _structured_astream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None]:
        program = self._forced_program(output_cls, prompt)
        if program is None:
            return await super()._structured_astream_call(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        return await program.astream_call(llm_kwargs=llm_kwargs, **prompt_args)

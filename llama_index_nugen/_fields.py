"""What ``Nugen`` and ``NugenMultiModal`` share: their fields, the request rule and the calls
(a request by ``nugen_shared.requests``, the client method it names, then ``_convert`` or
``_stream``; sync and async differ only in the client call)."""

import copy
import difflib
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.constants import DEFAULT_NUM_OUTPUTS
from pydantic import BaseModel, Field

from llama_index_nugen import _convert
from llama_index_nugen._stream import ChatStream, R, aresponses, responses
from nugen_client import InvalidInputError
from nugen_client.params import SamplingFields, check_no_credential_keywords
from nugen_shared.fields import (
    ConnectionFields,
    ImageLimitField,
    ReasoningField,
    accepted_names,
    call_keywords,
    check_call_keywords,
    sealed_headers,
)
from nugen_shared.models import FALLBACK_MAX_OUTPUT_TOKENS, model_info, prompt_budget
from nugen_shared.requests import chat_request, completion_request

# Keyword arguments LlamaIndex passes around that are not for the service.
_FRAMEWORK_KWARGS = frozenset(
    {
        "formatted",
        "use_chat_completions",
        "tool_required",
        "allow_parallel_tool_calls",
        "verbose",
        "strict",
        "error_on_no_tool_call",
    }
)

# The model fields every request carries (unset ones are left out by the rule;
# /completions drops use_vision_endpoint).
_REQUEST_FIELDS = (
    "model",
    *SamplingFields.model_fields,
    *ReasoningField.model_fields,
    "session_id",
    "provider",
    "use_vision_endpoint",
)


# The call methods of the chat classes (sealed by ``ChatFields.__init_subclass__``).
_CHAT_CALLS = ("chat", "achat", "stream_chat", "astream_chat")
_CALLS = (*_CHAT_CALLS, *(name.replace("chat", "complete") for name in _CHAT_CALLS))


class Request(NamedTuple):
    """The keyword arguments of one client call, and the client method that takes them."""

    method: str
    """``completion`` (``/completions``) or ``chat_completion``; streamed: ``stream_`` + it."""
    kwargs: dict[str, Any]


class KnownKeywords(BaseModel):
    """Constructor keywords are checked: a misspelt one (``temprature=``) is refused with
    the nearest valid name instead of being ignored, and the names LlamaIndex users bring
    from other integrations (``api_base``; ``model_name`` for ``model``) are aliases. The
    base of the four LlamaIndex classes."""

    _ALIASES: ClassVar[Mapping[str, str]] = {"api_base": "base_url", "model_name": "model"}

    def __init__(self, **data: Any) -> None:
        # Checked before pydantic sees the keywords: its errors quote every input, the key
        # included.
        cls = type(self)
        known = accepted_names(cls)
        for alias, name in cls._ALIASES.items():
            # Also where the alias is a validation alias (a reranker's model_name), which
            # pydantic would drop in silence beside the name.
            if alias in data and name in cls.model_fields:
                if name in data:
                    raise InvalidInputError(f"give {name}= or its alias {alias}=, not both")
                data[name] = data.pop(alias)
        for name in data:
            if name in known:
                continue
            check_no_credential_keywords([name], known)
            nearest = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            if not nearest and "additional_kwargs" in cls.model_fields:
                hint = f"; send other body fields as additional_kwargs={{{name!r}: ...}}"
            raise InvalidInputError(f"{cls.__name__} has no keyword {name!r}{hint}")
        super().__init__(**data)

    def __getstate__(self) -> dict[str, Any]:
        # LlamaIndex's BaseComponent.__getstate__ deletes what does not pickle (a rate
        # limiter's lock, a lambda) from the dicts pydantic hands it, which are the model's
        # own: given a shallow copy's, a pickle (IngestionPipeline(num_workers=2)) leaves it.
        return super(KnownKeywords, copy.copy(self)).__getstate__()


class ChatFields(KnownKeywords, ConnectionFields, ImageLimitField, SamplingFields, ReasoningField):
    """The fields of the chat classes (the sampling fields are the wire models'), how they
    become a request, and the calls."""

    model: str
    use_vision_endpoint: bool = Field(
        default=False, description="Send chat requests to /chat/vision."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body fields sent with every request."
    )
    context_window: int | None = Field(
        default=None,
        gt=0,
        description="The context window LlamaIndex packs prompts into; unset: the prompt "
        "budget (prompt_truncate_len, else the service's 1500) plus the output budget.",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each call method of a subclass refuses keywords that carry a credential and seals
        the per-call header values that may not be shown (the request opens them again).
        LlamaIndex's callback and instrumentation wrappers put a call's keywords in events as
        they are: applied after theirs (in ``super().__init_subclass__``), this runs first."""
        super().__init_subclass__(**kwargs)
        for name in _CALLS:
            if name in cls.__dict__:
                setattr(cls, name, _sealing(cls.__dict__[name]))

    def _metadata_fields(self) -> dict[str, Any]:
        info = model_info(self.model)
        output = self.max_tokens or info.max_output_tokens
        if self.context_window:
            window = self.context_window
            # Unset, the output budget is a guess that LlamaIndex reserves out of the window
            # when it packs prompts: at most a quarter of it, so a small window leaves room.
            output = output or min(FALLBACK_MAX_OUTPUT_TOKENS, window // 4)
        else:
            # LlamaIndex packs prompts up to the window minus num_output: exactly what the
            # service keeps of a prompt (prompt_truncate_len), so none of it is cut. Chat
            # memories read the window alone (three quarters of it, or all but 256 tokens):
            # LlamaIndex's own output guess keeps them within the budget too.
            output = output or DEFAULT_NUM_OUTPUTS
            window = prompt_budget(self.prompt_truncate_len) + output
        return {
            "context_window": window,
            "num_output": output,
            # The vision endpoint takes no tools, whatever the model.
            "is_function_calling_model": info.tool_calling and not self.use_vision_endpoint,
            "model_name": self.model,
        }

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self, payload: str | Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> Request:
        """One client call (``nugen_shared.requests``): the fields, then ``additional_kwargs``,
        then the call's kwargs; a prompt string goes to ``/completions``."""
        kwargs = call_keywords(kwargs)
        fields = {name: getattr(self, name) for name in _REQUEST_FIELDS}
        layers = (fields, self.additional_kwargs, kwargs)
        if not isinstance(payload, str):
            request = chat_request(payload, *layers, ignore=_FRAMEWORK_KWARGS)
            return Request("chat_completion", request)
        if kwargs.get("tools"):
            raise InvalidInputError(
                "tools: the text completions endpoint (/completions, is_chat_model=False) "
                "takes no tools; tool calling needs is_chat_model=True"
            )
        return Request("completion", completion_request(payload, *layers, ignore=_FRAMEWORK_KWARGS))

    def _chat_request(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> Request:
        wire = _convert.to_wire_messages(messages, max_image_bytes=self.image_limit)
        return self._request(wire, kwargs)

    # -- calls -------------------------------------------------------------------------------
    # The client checks a stream's request when it is called, before the caller iterates:
    # bad input fails at the call, not at the first chunk.

    def _send(self, request: Request) -> ChatResponse:
        answer = getattr(self._sync_client(), request.method)(**request.kwargs)
        return _convert.completion_to_chat_response(answer)

    async def _asend(self, request: Request) -> ChatResponse:
        answer = await getattr(self._async_client(), request.method)(**request.kwargs)
        return _convert.completion_to_chat_response(answer)

    def _send_stream(
        self, request: Request, render: Callable[[ChatStream], R]
    ) -> Generator[R, None, None]:
        chunks = getattr(self._sync_client(), f"stream_{request.method}")(**request.kwargs)
        return responses(chunks, render)

    def _asend_stream(
        self, request: Request, render: Callable[[ChatStream], R]
    ) -> AsyncGenerator[R, None]:
        chunks = getattr(self._async_client(), f"stream_{request.method}")(**request.kwargs)
        return aresponses(chunks, render)


def _sealing(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def sealed_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            check_call_keywords(kwargs)
            return await method(self, *args, **sealed_headers(kwargs))

        return sealed_async

    @functools.wraps(method)
    def sealed(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_call_keywords(kwargs)
        return method(self, *args, **sealed_headers(kwargs))

    return sealed

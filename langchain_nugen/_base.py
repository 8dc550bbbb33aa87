"""What ``ChatNugen`` and ``NugenLLM`` share: the sampling fields and the layers of a
request, LangChain's serialisation and tracing hooks, the offline token estimate, the
loop that relays a stream's pieces to callbacks, and the entry points that take the run
config's session."""

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.load.serializable import (
    Serializable,
    SerializedConstructor,
    SerializedNotImplemented,
)
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config, get_config_list
from langchain_core.utils.utils import _build_model_kwargs
from pydantic import AliasChoices, Field, model_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from langchain_nugen._convert import PROVIDER
from langchain_nugen._errors import mapped_errors
from langchain_nugen._tokens import count_text_tokens
from nugen_client import InvalidInputError
from nugen_client.params import (
    GenerationFields,
    OnRetry,
    Stop,
    check_no_credential_keywords,
    redact_headers,
)
from nugen_shared.fields import (
    ConnectionFields,
    accepted_names,
    call_keywords,
    check_call_keywords,
    sealed_headers,
)
from nugen_shared.models import DEFAULT_CHAT_MODEL

RunManager = CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun

# Call keywords that are LangChain's, not the service's. Any other unknown keyword goes
# into the body unvalidated (the way ChatOpenAI passes unknown keywords through).
LC_KWARGS = frozenset({"stream_usage"})
# ChatOpenAI's names for our fields (``request_timeout`` is ``timeout``'s alias), so that
# code written for it keeps its meaning: unknown, it would be sent as a body field (and
# the request to the default host).
_OPENAI_NAMES = {"max_completion_tokens": "max_tokens", "openai_api_base": "base_url"}


class NugenModel(ConnectionFields, GenerationFields, Serializable):
    """The fields and LangChain hooks of a Nugen model (chat or text completion); the
    sampling fields are those of the wire models (``GenerationFields``)."""

    # Model fields sent as body fields when set (None means "not set": the service
    # decides); ``stop`` is layered apart, an empty list clearing it.
    _sampling_fields: ClassVar[tuple[str, ...]] = tuple(
        name for name in GenerationFields.model_fields if name != "stop"
    )
    _ls_model_type: ClassVar[Literal["chat", "llm"]]
    _stream_is_one: ClassVar[str]  # what a stream carries, for the n > 1 refusal
    _stream_method: ClassVar[str]  # the client's streaming method

    # validation_alias, not alias: type checkers and help() show only an alias=.
    model: str = Field(
        default=DEFAULT_CHAT_MODEL, validation_alias=AliasChoices("model", "model_name")
    )
    """Model name, e.g. `nugen-flash-instruct`, `nugen-legal`, `qwen-v2p5-0p5b-instruct`."""
    stop: Stop = Field(default=None, validation_alias=AliasChoices("stop", "stop_sequences"))
    streaming: bool = False
    """Whether `invoke` / `generate` stream internally (token callbacks fire per piece)."""
    stream_usage: bool = True
    """Whether streams carry usage: requested with `stream_options`, on the last chunk."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    if TYPE_CHECKING:  # a field of LangChain's BaseLanguageModel, declared there

        @property
        def custom_get_token_ids(self) -> Callable[[str], list[int]] | None: ...

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: dict[str, Any]) -> Any:
        """Unknown constructor keywords become body fields (``model_kwargs``). Only they
        go through LangChain's helper, so fields named in ``model_kwargs`` stay body fields
        there (layered over the fields) whatever else is given."""
        if isinstance(values, dict):
            values = _our_names(values)
            names = accepted_names(cls)
            unknown = [key for key in values if key not in names]
            if unknown:
                check_no_credential_keywords(unknown, names)  # never moved into the body
                moved = {key: values[key] for key in unknown}
                extra = dict(values.get("model_kwargs") or {})  # not the caller's dict
                values = {key: value for key, value in values.items() if key not in moved}
                values |= _build_model_kwargs({**moved, "model_kwargs": extra}, {"model_kwargs"})
            for name, value in (values.get("model_kwargs") or {}).items():
                try:  # refused now, not at the first call
                    to_jsonable_python(value)
                except PydanticSerializationError:
                    raise InvalidInputError(
                        f"{name} (type {type(value).__name__}) cannot be sent: {cls.__name__} has "
                        "no such field, and keywords it does not know go into the body as JSON"
                    ) from None
        return values

    # ------------------------------------------------------------------ LangChain API

    # LangChain keeps a model's serialised form on it once computed (``_serialized``: a
    # chat model's cache key, what callbacks are given); a field assigned, or changed in a
    # copy (``model_copy`` assigns), must show in it, or the cache answers for the model as
    # it was.
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self.__dict__.pop("_serialized", None)

    @property
    def model_name(self) -> str:
        """The model name (the ``ChatOpenAI`` / ``OpenAI`` accessor for :attr:`model`)."""
        return self.model

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "NUGEN_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        # dumps() reads the raw field values (not model_dump), so the header redaction
        # (every value but those of safe names) is applied here too.
        serialized = super().to_json()
        kwargs = serialized.get("kwargs")
        if isinstance(kwargs, dict) and kwargs.get("default_headers"):
            kwargs["default_headers"] = redact_headers(kwargs["default_headers"])
        return serialized

    @property
    def _identifying_params(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self._sampling_fields}
        params = {"model": self.model, **{k: v for k, v in fields.items() if v is not None}}
        if self.stop:
            params["stop"] = self.stop
        return {**params, **self.model_kwargs}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        given = {**self.model_kwargs, **kwargs}  # layered over the fields, as the request
        model = given.get("model")
        params = LangSmithParams(
            ls_provider=PROVIDER,
            ls_model_name=model if isinstance(model, str) else self.model,
            ls_model_type=self._ls_model_type,
        )
        temperature = given.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        # ChatOpenAI's name too (both given: refused with the request, not here).
        max_tokens = given.get("max_tokens", given.get("max_completion_tokens", self.max_tokens))
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        # stop=[] sends none
        stop_sequences = given.get("stop", self.stop) if stop is None else stop
        if isinstance(stop_sequences, str):
            params["ls_stop"] = [stop_sequences]
        elif isinstance(stop_sequences, list) and stop_sequences:
            # Anything else is refused with the request (a clear error), not here.
            params["ls_stop"] = list(stop_sequences)
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

    def _request_layers(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model-field and call-keyword layers of a request (``nugen_shared.requests``
        puts ``model_kwargs`` between them; later wins). ``stop=[]`` clears the field's."""
        names = (*self._sampling_fields, "model", "session_id", "provider")
        fields: dict[str, Any] = {name: getattr(self, name) for name in names}
        fields["stop"] = self.stop or None
        call = call_keywords(_our_names(kwargs))
        if stop is not None:
            call["stop"] = stop or None
        return fields, call

    def _request(
        self, payload: Any, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError  # each class's own endpoint and conversion

    def _converter(self, request: dict[str, Any], kwargs: dict[str, Any]) -> "PieceConverter":
        raise NotImplementedError  # each class's own stream conversion

    def _stream_request(
        self,
        payload: Any,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        run_manager: RunManager | None,
    ) -> tuple[dict[str, Any], "PieceConverter"]:
        """A stream's request: one choice, usage asked for unless turned off, and retries
        reported to the callbacks; and the converter of its chunks."""
        request = self._request(payload, stop, kwargs)
        n = request.get("n")
        if isinstance(n, int) and n > 1:
            raise InvalidInputError(
                f"n={n} cannot be streamed (a stream is one {self._stream_is_one}); call "
                "generate() with streaming off to get several generations"
            )
        request["include_usage"] = bool(kwargs.get("stream_usage", self.stream_usage))
        request["on_retry"] = on_retry(run_manager)
        return request, self._converter(request, kwargs)

    def _pieces(
        self,
        payload: Any,
        /,  # so that a call keyword of that name is sent, as by invoke
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """The ``_stream`` of both classes: each piece announced to the callbacks as it is
        yielded, then the converter's final piece (usage, finish reason). A stream that
        breaks off raises the client's ``StreamInterruptedError`` (the text so far on its
        ``partial``), never a piece that looks complete."""
        with mapped_errors():
            request, converter = self._stream_request(payload, stop, kwargs, run_manager)
            for chunk in getattr(self._sync_client(), self._stream_method)(**request):
                piece = converter.convert(chunk)
                if piece is not None:
                    if run_manager:
                        run_manager.on_llm_new_token(piece.text, chunk=piece)
                    yield piece
            final = converter.final()
            if run_manager:
                run_manager.on_llm_new_token("", chunk=final)
            yield final

    async def _apieces(
        self,
        payload: Any,
        /,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """:meth:`_pieces` for ``_astream``."""
        with mapped_errors():
            request, converter = self._stream_request(payload, stop, kwargs, run_manager)
            async for chunk in getattr(self._async_client(), self._stream_method)(**request):
                piece = converter.convert(chunk)
                if piece is not None:
                    if run_manager:
                        await run_manager.on_llm_new_token(piece.text, chunk=piece)
                    yield piece
            final = converter.final()
            if run_manager:
                await run_manager.on_llm_new_token("", chunk=final)
            yield final

    # LangChain's entry points, hidden from type checkers: they would compare the name of
    # the first parameter with each base class's (``messages``, ``prompt``).
    if not TYPE_CHECKING:
        _stream = _pieces
        _astream = _apieces


def _our_names(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (constructor or call keywords) with ChatOpenAI's names given ours."""
    for alias, name in _OPENAI_NAMES.items():
        if alias in values:
            if name in values:
                raise InvalidInputError(f"give {name}= or its alias {alias}=, not both")
            values = {**values, name: values[alias]}
            del values[alias]
    return values


def _check_call(kwargs: Mapping[str, Any]) -> None:
    """Refuse a call's keywords that would carry a credential (``check_call_keywords``)
    before LangChain starts the run: it hands them to callbacks and traces first."""
    if kwargs:  # most calls give none
        with mapped_errors():
            check_call_keywords(kwargs)


def shown_keywords(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A call's keywords as callbacks, traces and cache keys hold them: refused if they
    would carry a credential, credential header values redacted (a persistent cache writes
    its keys to disk). A call's header values come sealed through ``invoke`` and ``batch``,
    as they are through ``generate``."""
    _check_call(kwargs)
    headers = kwargs.get("extra_headers")
    if headers and isinstance(headers, Mapping):  # else refused with the request
        return {**kwargs, "extra_headers": redact_headers(headers)}
    return dict(kwargs)


def on_retry(run_manager: RunManager | None) -> OnRetry | None:
    """The callback that reports the client's retries to LangChain's callbacks (the async
    client awaits what an async run manager's ``on_retry`` returns)."""
    return run_manager.on_retry if run_manager is not None else None


class PieceConverter(Protocol):
    """A stream's conversion: wire chunks in, LangChain pieces out."""

    def convert(self, chunk: Any) -> Any: ...

    def final(self) -> Any: ...


# -- the run config's session ---------------------------------------------------------
# A conversation's id from the run config (``configurable["session_id"]``), sent as
# ``X-Session-ID``; its precedence, and why LangGraph's ``thread_id`` is not taken:
# docs/parameters.md, "Sessions and providers". The same entry points, and ``bind``, seal
# per-call header values (``sealed_headers``): ``BaseLLM.stream`` hands a call's keywords
# to callbacks and traces as they are.


def _session_of(config: RunnableConfig | None) -> Any:
    # The config's id is shared with other runnables (``RunnableWithMessageHistory`` keys
    # its histories by it): a whole number or a UUID is the conversation's id as text;
    # anything else but a string is refused with the request, as the keyword is.
    session_id = ensure_config(config).get("configurable", {}).get("session_id")
    if isinstance(session_id, (int, UUID)) and not isinstance(session_id, bool):
        return str(session_id)
    return None if session_id == "" else session_id


def _call_kwargs(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` (refused if they would carry a credential) with the config's session id
    (unless given) and per-call header values sealed."""
    _check_call(kwargs)
    session_id = None if "session_id" in kwargs else _session_of(config)
    kwargs = sealed_headers(kwargs)
    return kwargs if session_id is None else {**kwargs, "session_id": session_id}


def _one_session(
    inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None, kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """The keywords of a batch whose inputs share one conversation, None when they do not
    (then each input is its own call, with its own id)."""
    configs = get_config_list(config, len(inputs))
    sessions = [_session_of(c) for c in configs]  # compared, not hashed: any value may come
    if "session_id" in kwargs or all(session == sessions[0] for session in sessions):
        return _call_kwargs(configs[0] if configs else None, kwargs)
    return None


class SessionFromConfig:
    """``BaseChatModel``'s and ``BaseLLM``'s entry points, taking the run config's session."""

    # Hidden from type checkers, which then see the framework's own signatures: each class's
    # output type (``invoke`` gives an ``AIMessage`` or a ``str``, ``stream`` its chunks),
    # where these overrides would give ``Any``.
    if not TYPE_CHECKING:

        def bind(self, **kwargs: Any) -> Runnable[Any, Any]:
            # The binding keeps its keywords where repr, print and dumps show them as they are.
            _check_call(kwargs)
            return super().bind(**sealed_headers(kwargs))

        def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
            return super().invoke(input, config, **_call_kwargs(config, kwargs))

        async def ainvoke(
            self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
        ) -> Any:
            return await super().ainvoke(input, config, **_call_kwargs(config, kwargs))

        def stream(
            self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
        ) -> Iterator[Any]:
            return super().stream(input, config, **_call_kwargs(config, kwargs))

        def astream(
            self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
        ) -> AsyncIterator[Any]:
            return super().astream(input, config, **_call_kwargs(config, kwargs))

        def batch(
            self,
            inputs: list[Any],
            config: RunnableConfig | list[RunnableConfig] | None = None,
            *,
            return_exceptions: bool = False,
            **kwargs: Any,
        ) -> list[Any]:
            shared = _one_session(inputs, config, kwargs)
            if shared is None:
                return Runnable.batch(
                    self, inputs, config, return_exceptions=return_exceptions, **kwargs
                )
            return super().batch(inputs, config, return_exceptions=return_exceptions, **shared)

        async def abatch(
            self,
            inputs: list[Any],
            config: RunnableConfig | list[RunnableConfig] | None = None,
            *,
            return_exceptions: bool = False,
            **kwargs: Any,
        ) -> list[Any]:
            shared = _one_session(inputs, config, kwargs)
            if shared is None:
                return await Runnable.abatch(
                    self, inputs, config, return_exceptions=return_exceptions, **kwargs
                )
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **shared
            )

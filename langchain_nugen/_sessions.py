"""A conversation's id from the run config (``configurable["session_id"]``), sent as
``X-Session-ID``; its precedence, and why LangGraph's ``thread_id`` is not taken:
docs/parameters.md, "Sessions and providers". The same entry points, and ``bind``, seal
per-call header values (``sealed_headers``): ``BaseLLM.stream`` hands a call's keywords
to callbacks and traces as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config, get_config_list

from nugen_shared.fields import sealed_headers

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel

    _LanguageModel = BaseLanguageModel[Any]
else:
    _LanguageModel = object

__all__ = ["SessionFromConfig"]


def _session_of(config: RunnableConfig | None) -> str | None:
    session_id = ensure_config(config).get("configurable", {}).get("session_id")
    return session_id if isinstance(session_id, str) and session_id else None


def _call_kwargs(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the config's session id (unless given) and per-call header values
    sealed, as LangChain hands them to callbacks and traces (``sealed_headers``)."""
    session_id = None if "session_id" in kwargs else _session_of(config)
    kwargs = sealed_headers(kwargs)
    return kwargs if session_id is None else {**kwargs, "session_id": session_id}


def _one_session(
    inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None, kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """The keywords of a batch whose inputs share one conversation, None when they do not
    (then each input is its own call, with its own id)."""
    configs = get_config_list(config, len(inputs))
    if "session_id" in kwargs or len({_session_of(c) for c in configs}) <= 1:
        return _call_kwargs(configs[0] if configs else None, kwargs)
    return None


class SessionFromConfig(_LanguageModel):
    """The entry points of a LangChain model, each taking the run config's session id.

    The class it is mixed into defines them (``BaseChatModel``, ``BaseLLM``).
    """

    if not TYPE_CHECKING:  # typed as Runnable.bind, whose Input and Output each class fixes

        def bind(self, **kwargs: Any) -> Runnable[Any, Any]:
            # The binding keeps its keywords where repr, print and dumps show them as they are.
            return super().bind(**sealed_headers(kwargs))

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return super().invoke(input, config, **_call_kwargs(config, kwargs))  # type: ignore[safe-super]

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
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
        return await super().abatch(inputs, config, return_exceptions=return_exceptions, **shared)

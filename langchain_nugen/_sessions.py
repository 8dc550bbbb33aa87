"""A conversation's id from the run config, sent as ``X-Session-ID``.

``RunnableWithMessageHistory`` and LangGraph (and so ``create_agent``) name the
conversation of a run in ``config["configurable"]["session_id"]`` (LangGraph's own calls
find the config of the node they run in). A model bound once serves every conversation
when each call sends its run's id. Precedence: a call keyword (``bind(session_id=...)``
included), then the config, then the model's ``session_id`` field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config, get_config_list

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel

    _LanguageModel = BaseLanguageModel[Any]
else:
    _LanguageModel = object

__all__ = ["SessionFromConfig"]


def _session_of(config: RunnableConfig | None) -> str | None:
    session_id = ensure_config(config).get("configurable", {}).get("session_id")
    return session_id if isinstance(session_id, str) and session_id else None


def _with_session(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    if "session_id" in kwargs:
        return kwargs
    session_id = _session_of(config)
    return kwargs if session_id is None else {**kwargs, "session_id": session_id}


class SessionFromConfig(_LanguageModel):
    """The entry points of a LangChain model, each taking the run config's session id."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        # The class it is mixed into defines invoke (BaseChatModel, BaseLLM).
        return super().invoke(  # type: ignore[safe-super]
            input, config, **_with_session(config, kwargs)
        )

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await super().ainvoke(input, config, **_with_session(config, kwargs))

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return super().stream(input, config, **_with_session(config, kwargs))

    def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        return super().astream(input, config, **_with_session(config, kwargs))

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        configs = get_config_list(config, len(inputs))
        if "session_id" in kwargs or len({_session_of(c) for c in configs}) <= 1:
            kwargs = _with_session(configs[0] if configs else None, kwargs)
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        # Several conversations: one call per input, each with its own id.
        return Runnable.batch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        configs = get_config_list(config, len(inputs))
        if "session_id" in kwargs or len({_session_of(c) for c in configs}) <= 1:
            kwargs = _with_session(configs[0] if configs else None, kwargs)
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        return await Runnable.abatch(
            self, inputs, config, return_exceptions=return_exceptions, **kwargs
        )

"""The fields ``Nugen`` and ``NugenMultiModal`` share, and their request rule.

No I/O here: the calls are in :mod:`llama_index_nugen._calls`. The connection fields, the
client cache (:mod:`nugen_shared.fields`) and the request rule itself
(:mod:`nugen_shared.requests`) are the ones ``ChatNugen`` uses too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from llama_index.core.base.llms.types import ChatMessage
from pydantic import AliasChoices, BaseModel, Field

from llama_index_nugen import _convert
from nugen_client import InvalidInputError
from nugen_client.params import SamplingFields
from nugen_shared.fields import (
    ConnectionFields,
    ImageLimitField,
    ReasoningField,
    call_keywords,
    check_no_credential_keywords,
)
from nugen_shared.requests import chat_request, completion_request

__all__ = ["ChatFields", "KnownKeywords", "Request"]

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

# The model fields every request carries (unset ones are left out by the rule).
_REQUEST_FIELDS = (
    "model",
    *SamplingFields.model_fields,
    *ReasoningField.model_fields,
    "session_id",
    "provider",
)


class Request(NamedTuple):
    """The keyword arguments of one client call, and which endpoint takes them."""

    text: bool
    """``True``: a text completion (``/completions``); ``False``: a chat completion."""
    kwargs: dict[str, Any]


class KnownKeywords(BaseModel):
    """Constructor keywords are checked: a misspelt one (``temprature=``) is refused with
    the nearest valid name instead of being ignored, and the names LlamaIndex users bring
    from other integrations (``api_base``; ``model_name`` for ``model``) are aliases."""

    _ALIASES: ClassVar[Mapping[str, str]] = {"api_base": "base_url", "model_name": "model"}

    def __init__(self, **data: Any) -> None:
        # Checked before pydantic sees the keywords: its errors quote every input, the key
        # included.
        super().__init__(**_known_keywords(type(self), data))


def _known_keywords(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    known = _accepted_names(cls)
    for alias, name in KnownKeywords._ALIASES.items():
        if alias in data and alias not in known and name in cls.model_fields:
            if name in data:
                raise InvalidInputError(f"give {name}= or its alias {alias}=, not both")
            data[name] = data.pop(alias)
    for name in data:
        if name in known:
            continue
        # A near miss (``max_token``) is a typo; anything else that looks like a credential
        # (``access_token``) is a key under a wrong name, and the message says where it goes.
        if not difflib.get_close_matches(name, known, n=1, cutoff=0.85):
            check_no_credential_keywords([name])
        nearest = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
        raise InvalidInputError(f"{cls.__name__} has no keyword {name!r}{hint}")
    return data


def _accepted_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        if field.alias:
            names.add(field.alias)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
    return names


class ChatFields(KnownKeywords, ConnectionFields, ImageLimitField, SamplingFields, ReasoningField):
    """The fields of the chat classes (the sampling fields are the wire models') and how
    they become a request."""

    model: str
    use_vision_endpoint: bool = Field(
        default=False, description="Send chat requests to /chat/vision."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body fields sent with every request."
    )

    def _wire_messages(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return _convert.to_wire_messages(messages, max_image_bytes=self.image_limit)

    def _request(
        self, payload: str | Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> Request:
        """One client call (``nugen_shared.requests``: fields, then ``additional_kwargs``, then
        the call's kwargs): a prompt string posts to ``/completions``, wire messages to the
        chat endpoint."""
        kwargs = call_keywords(kwargs)
        fields = {name: getattr(self, name) for name in _REQUEST_FIELDS}
        if isinstance(payload, str):
            request = completion_request(
                payload, fields, self.additional_kwargs, kwargs, ignore=_FRAMEWORK_KWARGS
            )
            return Request(text=True, kwargs=request)
        fields["use_vision_endpoint"] = self.use_vision_endpoint
        request = chat_request(
            payload, fields, self.additional_kwargs, kwargs, ignore=_FRAMEWORK_KWARGS
        )
        return Request(text=False, kwargs=request)

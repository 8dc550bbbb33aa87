"""How a request is built from an adapter's fields and a call's keywords, written once, so
that both frameworks agree on it: :func:`chat_request`, :func:`completion_request`, and
:func:`embeddings_request`, and :func:`tool_choice_to_wire` for every ``tool_choice`` form
(rerank requests: ``nugen_shared.fields.RerankFields``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from nugen_client import InvalidInputError
from nugen_client.params import ChatCompletionRequest, EmbeddingRequest, TextCompletionRequest

__all__ = [
    "CHAT_BODY_FIELDS",
    "COMPLETION_BODY_FIELDS",
    "EMBEDDING_BODY_FIELDS",
    "chat_request",
    "completion_request",
    "embeddings_request",
    "tool_choice_to_wire",
]

# Body fields the client validates (its wire model's, but the payload and ``stream``); any
# other name given as a call keyword or an extra body field goes into the body as it is.
CHAT_BODY_FIELDS: frozenset[str] = frozenset(ChatCompletionRequest.model_fields) - {
    "messages",
    "stream",
}
COMPLETION_BODY_FIELDS: frozenset[str] = frozenset(TextCompletionRequest.model_fields) - {
    "prompt",
    "stream",
}
EMBEDDING_BODY_FIELDS: frozenset[str] = frozenset(EmbeddingRequest.model_fields) - {"input"}


def tool_choice_to_wire(
    tool_choice: str | bool | Mapping[str, Any] | None, tool_names: Sequence[str]
) -> str | dict[str, Any] | None:
    """Every ``tool_choice`` form of both frameworks as the service's ``tool_choice``.

    ``None`` / ``False``: not set. ``"auto"`` and ``"none"`` pass through. A forced call
    (LangChain ``"any"`` / ``True``, LlamaIndex ``tool_required=True``, ``"required"``)
    names the tool when exactly one is bound and is ``"required"`` with several. Any other
    string is a tool's name and becomes the specific-tool form; a dict is the wire form
    already; a value of another type is an ``InvalidInputError``. Whether a named tool is
    bound is the client's check. Applying it to its own result changes nothing.
    """
    if tool_choice is None or tool_choice is False:
        return None
    if isinstance(tool_choice, Mapping):
        return dict(tool_choice)
    if tool_choice is True or tool_choice in ("any", "required"):
        if len(tool_names) != 1:
            return "required"
        tool_choice = tool_names[0]
    if isinstance(tool_choice, str):
        if tool_choice in ("auto", "none"):
            return tool_choice
        return {"type": "function", "function": {"name": tool_choice}}
    raise InvalidInputError(
        f"tool_choice must be a str, bool or dict, got {type(tool_choice).__name__}"
    )


def chat_request(
    messages: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client chat call, from three layers (later wins): the
    model's ``fields`` (``model``, sampling, ``session_id``, ``provider``,
    ``use_vision_endpoint``), its extra body fields (``model_kwargs`` /
    ``additional_kwargs``, sent unvalidated), then the call's keywords.

    :data:`CHAT_BODY_FIELDS` among the fields or keywords are validated by the client
    (``None`` clears one). In every layer ``session_id`` / ``provider`` / ``extra_headers``
    become this call's headers (never a setting of the cached client, so changing them
    never builds a new pool); ``timeout`` overrides the model's (``None``: the model's);
    ``extra_body`` is merged; names in ``ignore`` (the framework's own) are dropped; any
    other name with a value is an unvalidated body field. ``tool_choice`` is converted for
    the request's tools (:func:`tool_choice_to_wire`).
    """
    request = _layered(CHAT_BODY_FIELDS, ignore, ("messages",), fields, extra_body, call)
    names = [
        tool["function"]["name"]
        for tool in request.get("tools") or ()
        if isinstance(tool, Mapping)
        and isinstance(tool.get("function"), Mapping)
        and isinstance(tool["function"].get("name"), str)
    ]
    request["tool_choice"] = tool_choice_to_wire(request.get("tool_choice"), names)
    request["messages"] = messages
    request["endpoint"] = "vision" if request.pop("use_vision_endpoint", False) else "chat"
    return request


def completion_request(
    prompt: str | Sequence[str],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client text completion call (``/completions``): the
    rule of :func:`chat_request` with :data:`COMPLETION_BODY_FIELDS` validated, any other
    field with a value (a chat-only one such as ``reasoning`` too) sent unvalidated, and
    ``use_vision_endpoint`` ignored. Several prompts are sent as one list."""
    request = _layered(
        COMPLETION_BODY_FIELDS, ignore, ("prompt", "messages"), fields, extra_body, call
    )
    request.pop("use_vision_endpoint", None)
    request["prompt"] = prompt if isinstance(prompt, str) else list(prompt)
    return request


def embeddings_request(
    texts: Sequence[str],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
) -> dict[str, Any]:
    """The keyword arguments of one client embeddings call: the rule of
    :func:`chat_request` with :data:`EMBEDDING_BODY_FIELDS` validated."""
    request = _layered(EMBEDDING_BODY_FIELDS, (), ("input",), fields, extra_body, call)
    request["input"] = list(texts)
    return request


# Names a layer gives that are the call's options rather than body fields: the client's
# per-call options but ``on_retry``, the adapter's own (a test keeps the two the same).
_OPTIONS = frozenset({"session_id", "provider", "extra_headers", "timeout", "extra_body"})
# Body fields of OpenAI-compatible hosts that are near misses of names of ours (``models``,
# LlamaIndex's ``allow_parallel_tool_calls``): sent as given, never taken for typos.
_HOST_FIELDS = frozenset({"parallel_tool_calls", "models"})


def _check_spelling(name: str, known: Collection[str]) -> None:
    """Refuse a call keyword that is a near miss of a known one (``temprature=``): sent as
    a body field, the service would ignore it in silence."""
    if name in _HOST_FIELDS:
        return
    meant = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
    if meant:
        raise InvalidInputError(
            f"{name!r} is not a call keyword; did you mean {meant[0]!r}? (to send it as a "
            "body field anyway, pass extra_body={...})"
        )


def _layered(
    body_fields: frozenset[str],
    ignore: Collection[str],
    inputs: Collection[str],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
) -> dict[str, Any]:
    """The layers (fields, extra body, call keywords) merged, later wins, as a client
    call's keywords but the payload; ``use_vision_endpoint`` is left for the caller. A
    name in ``inputs`` (the payload's own, or the other endpoint's) is refused in every
    layer, where it would otherwise vanish in silence; an ``extra_body={...}`` is sent as
    given, as the escape hatch for what the rules do not know."""
    skip = {*ignore, "stream"}
    request: dict[str, Any] = {"session_id": None}
    unvalidated: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for layer in (fields, extra_body, call):
        for name, value in layer.items():
            if name in body_fields and layer is not extra_body:
                request[name] = value
                unvalidated.pop(name, None)
            elif name == "use_vision_endpoint":
                if not isinstance(value, bool | None):  # bool("false") is True
                    raise InvalidInputError(
                        f"use_vision_endpoint must be a bool, got {type(value).__name__}"
                    )
                request[name] = bool(value)
            elif name not in _OPTIONS:
                if name in inputs:
                    raise InvalidInputError(
                        f"{name}= cannot be a call keyword, model_kwargs or "
                        "additional_kwargs: the call's input is its first argument"
                    )
                if name not in skip and value is not None:
                    if layer is call:
                        _check_spelling(name, {*body_fields, *_OPTIONS, *skip, *inputs, *fields})
                    unvalidated[name] = value
            elif name in ("extra_headers", "extra_body"):
                if value is not None and not isinstance(value, Mapping):
                    raise InvalidInputError(f"{name} must be a dict, got {type(value).__name__}")
                (headers if name == "extra_headers" else unvalidated).update(value or {})
            elif name != "timeout" or value is not None:  # session_id, provider, timeout
                request[name] = value
    if request.get("provider") in (None, ""):  # the client names a provider in a refusal
        request.pop("provider", None)
    if headers:
        request["extra_headers"] = headers
    if unvalidated:
        request["extra_body"] = unvalidated
    return request

"""Errors that are both a ``nugen_client`` error and the matching LangChain exception.

LangChain's retry and fallback machinery (``with_retry``, ``with_fallbacks``, agent
middleware) recognises failures by the ``langchain_core.exceptions.Model*Error`` classes;
code written against the shared client catches ``nugen_client`` classes. Every error this
adapter raises is an instance of both, so either ``except`` clause works.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core import exceptions as lc

import nugen_client
from nugen_client._retry import is_retryable

_ClientError = type[nugen_client.NugenError]


def _retryable(error: BaseException) -> bool:
    """The client's retry rule; and a stream that broke off, which the client cannot retry
    once it has yielded chunks, but a caller retrying the whole call can."""
    return is_retryable(error) or isinstance(error, nugen_client.StreamInterruptedError)


def _dual(client_class: _ClientError, lc_class: type[Exception], name: str = "") -> _ClientError:
    """``Nugen<name>``, a subclass of both, importable from this module (so it pickles),
    whose ``is_retryable`` (read by LangChain's retry policies) is :func:`_retryable`."""
    name = f"Nugen{name or client_class.__name__}"
    namespace = {"__module__": __name__, "__doc__": client_class.__doc__}
    dual: _ClientError = type(
        name, (client_class, lc_class), {**namespace, "is_retryable": property(_retryable)}
    )
    globals()[name] = dual
    return dual


# Each client class with its twin; an error takes the twin of the nearest class in its MRO.
_DUAL: dict[_ClientError, _ClientError] = {
    client_class: _dual(client_class, lc_class)
    for client_class, lc_class in (
        # Refused locally: the request a host would answer with a 400 (so LangChain's
        # retry policies, which retry any error but a non-retryable ModelError, do not).
        (nugen_client.InvalidInputError, lc.ModelInvalidRequestError),
        (nugen_client.BadRequestError, lc.ModelInvalidRequestError),
        (nugen_client.UnprocessableEntityError, lc.ModelInvalidRequestError),
        (nugen_client.AuthenticationError, lc.ModelAuthenticationError),
        (nugen_client.PaymentRequiredError, lc.ModelAPIError),
        (nugen_client.PermissionDeniedError, lc.ModelPermissionDeniedError),
        (nugen_client.NotFoundError, lc.ModelNotFoundError),
        (nugen_client.ConflictError, lc.ModelAPIError),
        (nugen_client.RateLimitError, lc.ModelRateLimitError),
        (nugen_client.InternalServerError, lc.ModelAPIError),
        (nugen_client.APIStatusError, lc.ModelAPIError),
        (nugen_client.APITimeoutError, lc.ModelTimeoutError),
        (nugen_client.APIConnectionError, lc.ModelConnectionError),
        (nugen_client.StreamInterruptedError, lc.ModelConnectionError),
        (nugen_client.APIResponseValidationError, lc.ModelAPIError),
    )
}

# A 400 or 422 saying the prompt does not fit the model's context window.
_OVERFLOW: dict[_ClientError, _ClientError] = {
    client_class: _dual(client_class, lc.ContextOverflowError, name)
    for client_class, name in (
        (nugen_client.BadRequestError, "ContextOverflowError"),
        (nugen_client.UnprocessableEntityError, "UnprocessableContextOverflowError"),
    )
}
_MAPPED = (*_DUAL.values(), *_OVERFLOW.values())

# How services phrase "the prompt is longer than the context window": vLLM ("maximum
# context length", "context_length_exceeded"), TGI ("Input validation error: inputs tokens
# + max_new_tokens must be <="), OpenAI, Anthropic ("prompt is too long") and friends; a
# limit on another field ("top_k exceeds the maximum") is not one.
_CONTEXT_OVERFLOW = re.compile(
    r"context[ _]length|context[ _]window|maximum context|prompt is too long|"
    r"too many (?:input )?tokens|input tokens exceed|inputs tokens|"
    r"exceeds? the (?:model's )?(?:maximum|max) (?:context|input|number of (?:input )?tokens)|"
    r"reduce the length",
    re.IGNORECASE,
)


def _twin(table: dict[_ClientError, _ClientError], error: Exception) -> _ClientError | None:
    return next((table[base] for base in type(error).__mro__ if base in table), None)


def map_error(error: nugen_client.NugenError) -> nugen_client.NugenError:
    """The dual-class twin of a ``nugen_client`` error (itself if already mapped)."""
    if isinstance(error, _MAPPED):
        return error
    twin = _twin(_OVERFLOW, error)
    if twin is None or not _CONTEXT_OVERFLOW.search(str(error)):
        twin = _twin(_DUAL, error)
    if twin is None:
        return error
    # The client's errors take keyword-only constructor arguments; copying the state keeps
    # every attribute (status_code, body, request_id, headers, partial, ...) as it was.
    mapped = twin.__new__(twin)
    mapped.args = error.args
    mapped.__dict__.update(error.__dict__)
    mapped.__traceback__ = error.__traceback__
    return mapped


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Re-raise ``nugen_client`` errors as their dual LangChain classes."""
    try:
        yield
    except nugen_client.NugenError as error:
        mapped = map_error(error)
        if mapped is error:
            raise
        # ``from None``: the mapped error carries the same message, status and traceback;
        # a chained copy of itself would only double the report.
        raise mapped from None

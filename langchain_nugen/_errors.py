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
from typing import NoReturn

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)

import nugen_client

__all__ = [
    "NugenAPIConnectionError",
    "NugenAPIError",
    "NugenAPITimeoutError",
    "NugenAuthenticationError",
    "NugenBadRequestError",
    "NugenConflictError",
    "NugenContextOverflowError",
    "NugenInternalServerError",
    "NugenNotFoundError",
    "NugenPaymentRequiredError",
    "NugenPermissionDeniedError",
    "NugenRateLimitError",
    "NugenResponseValidationError",
    "NugenStreamInterruptedError",
    "NugenUnprocessableContextOverflowError",
    "NugenUnprocessableEntityError",
    "map_error",
    "mapped_errors",
]


class NugenBadRequestError(nugen_client.BadRequestError, ModelInvalidRequestError):
    """400: the service rejected the request."""


class NugenUnprocessableEntityError(
    nugen_client.UnprocessableEntityError, ModelInvalidRequestError
):
    """422: the service rejected the body (the message lists each offending field)."""


class NugenContextOverflowError(nugen_client.BadRequestError, ContextOverflowError):
    """400 saying the prompt does not fit the model's context window."""


class NugenUnprocessableContextOverflowError(
    nugen_client.UnprocessableEntityError, ContextOverflowError
):
    """422 saying the prompt does not fit the model's context window."""


class NugenAuthenticationError(nugen_client.AuthenticationError, ModelAuthenticationError):
    """401: the API key is missing, wrong or revoked."""


class NugenPaymentRequiredError(nugen_client.PaymentRequiredError, ModelAPIError):
    """402: the account's quota or balance is used up."""


class NugenPermissionDeniedError(nugen_client.PermissionDeniedError, ModelPermissionDeniedError):
    """403."""


class NugenNotFoundError(nugen_client.NotFoundError, ModelNotFoundError):
    """404: wrong base URL, endpoint or model name."""


class NugenConflictError(nugen_client.ConflictError, ModelAPIError):
    """409 (retried by the client like a transient failure)."""


class NugenRateLimitError(nugen_client.RateLimitError, ModelRateLimitError):
    """429."""


class NugenInternalServerError(nugen_client.InternalServerError, ModelAPIError):
    """5xx."""


class NugenAPIError(nugen_client.APIStatusError, ModelAPIError):
    """Any other error status."""


class NugenAPITimeoutError(nugen_client.APITimeoutError, ModelTimeoutError):
    """No answer (or no further stream data) within the timeout."""


class NugenAPIConnectionError(nugen_client.APIConnectionError, ModelConnectionError):
    """The service could not be reached."""


class NugenStreamInterruptedError(nugen_client.StreamInterruptedError, ModelConnectionError):
    """The stream ended before ``[DONE]`` or a ``finish_reason``: the answer is incomplete."""


class NugenResponseValidationError(nugen_client.APIResponseValidationError, ModelAPIError):
    """The service answered with something that is not a valid response."""


# Most specific first: the first class whose ``nugen_client`` base matches decides. Each
# class's pair is its own first base, so the table cannot disagree with the classes.
_BY_CLIENT_CLASS: tuple[
    tuple[type[nugen_client.NugenError], type[nugen_client.NugenError]], ...
] = tuple(
    (mapped.__bases__[0], mapped)
    for mapped in (
        NugenBadRequestError,
        NugenUnprocessableEntityError,
        NugenAuthenticationError,
        NugenPaymentRequiredError,
        NugenPermissionDeniedError,
        NugenNotFoundError,
        NugenConflictError,
        NugenRateLimitError,
        NugenInternalServerError,
        NugenAPIError,
        NugenAPITimeoutError,
        NugenAPIConnectionError,
        NugenStreamInterruptedError,
        NugenResponseValidationError,
    )
)

# How services phrase "the prompt is longer than the context window": vLLM ("maximum
# context length", "context_length_exceeded"), TGI ("Input validation error: inputs tokens
# + max_new_tokens must be <="), OpenAI, Anthropic ("prompt is too long") and friends.
_CONTEXT_OVERFLOW = re.compile(
    r"context[ _]length|context[ _]window|maximum context|prompt is too long|"
    r"too many (?:input )?tokens|input tokens exceed|inputs tokens|"
    r"exceeds? the (?:model's )?(?:maximum|max)|reduce the length",
    re.IGNORECASE,
)


def _is_context_overflow(error: nugen_client.NugenError) -> bool:
    return isinstance(
        error, nugen_client.BadRequestError | nugen_client.UnprocessableEntityError
    ) and bool(_CONTEXT_OVERFLOW.search(str(error)))


def _rebuild(
    cls: type[nugen_client.NugenError], error: nugen_client.NugenError
) -> nugen_client.NugenError:
    # The client's errors take keyword-only constructor arguments; copying the state keeps
    # every attribute (status_code, body, request_id, headers, partial, ...) as it was.
    mapped = cls.__new__(cls)
    mapped.args = error.args
    mapped.__dict__.update(error.__dict__)
    mapped.__traceback__ = error.__traceback__
    return mapped


def map_error(error: nugen_client.NugenError) -> nugen_client.NugenError:
    """The dual-class twin of a ``nugen_client`` error (the error itself if already mapped
    or local, like :class:`nugen_client.InvalidInputError`, which is a ``ValueError``)."""
    if isinstance(error, (*_MAPPED_CLASSES, nugen_client.InvalidInputError)):
        return error
    if _is_context_overflow(error):
        cls: type[nugen_client.NugenError] = (
            NugenUnprocessableContextOverflowError
            if isinstance(error, nugen_client.UnprocessableEntityError)
            else NugenContextOverflowError
        )
        return _rebuild(cls, error)
    for client_class, mapped_class in _BY_CLIENT_CLASS:
        if isinstance(error, client_class):
            return _rebuild(mapped_class, error)
    return error


_MAPPED_CLASSES = (
    *(mapped for _, mapped in _BY_CLIENT_CLASS),
    NugenContextOverflowError,
    NugenUnprocessableContextOverflowError,
)


def _reraise(error: nugen_client.NugenError) -> NoReturn:
    mapped = map_error(error)
    if mapped is error:
        raise error
    # ``from None``: the mapped error carries the same message, status and traceback; a
    # chained copy of itself would only double the report.
    raise mapped from None


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Re-raise ``nugen_client`` errors as their dual LangChain classes."""
    try:
        yield
    except nugen_client.NugenError as error:
        _reraise(error)

"""The client for the Nugen inference API: httpx + pydantic, no framework (docs/client.md).

Every failure is a :class:`NugenError`; the answer types are in :mod:`nugen_client.types`,
the call keywords and defaults in :mod:`nugen_client.params`. The client classes are
imported on first use: they bring httpx, an import cost that a program using only the
errors, the types or an adapter need not pay before it builds a client.
"""

from typing import TYPE_CHECKING

from nugen_client._chunks import StreamAccumulator
from nugen_client._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    NugenError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from nugen_client._retry import RetryPolicy
from nugen_client._version import __version__

if TYPE_CHECKING:
    from nugen_client._client import AsyncNugenClient, NugenClient

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncNugenClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidInputError",
    "NotFoundError",
    "NugenClient",
    "NugenError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "StreamAccumulator",
    "StreamInterruptedError",
    "UnprocessableEntityError",
    "__version__",
]


# Hidden from type checkers: a module __getattr__ would make them accept any name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name not in ("NugenClient", "AsyncNugenClient"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from nugen_client import _client

        value = globals()[name] = getattr(_client, name)
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

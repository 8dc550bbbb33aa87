"""The shared low-level client of the Nugen integrations: httpx + pydantic, no framework.

``NugenClient`` / ``AsyncNugenClient`` talk to the Nugen inference API (or any
OpenAI-compatible host) with local validation, retries, SSE streaming and a typed error
hierarchy. The LangChain and LlamaIndex adapters are thin layers over it.
"""

from nugen_client._client import AsyncNugenClient, NugenClient
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
    PermissionDeniedError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from nugen_client._params import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ChatParams,
    CompletionParams,
    EmbeddingParams,
    Endpoint,
    RequestOptions,
)
from nugen_client._retry import OnRetry, RetryPolicy, parse_retry_after
from nugen_client._streaming import (
    ChunkDecoder,
    StreamAccumulator,
    StreamDecoder,
    TextStreamDecoder,
    ToolCallAccumulator,
    ToolCallFragment,
    completion_to_chunks,
    text_completion_to_chunks,
)
from nugen_client._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncNugenClient",
    "AuthenticationError",
    "BadRequestError",
    "ChatParams",
    "ChunkDecoder",
    "CompletionParams",
    "ConflictError",
    "EmbeddingParams",
    "Endpoint",
    "InternalServerError",
    "InvalidInputError",
    "NotFoundError",
    "NugenClient",
    "NugenError",
    "OnRetry",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestOptions",
    "RetryPolicy",
    "StreamAccumulator",
    "StreamDecoder",
    "StreamInterruptedError",
    "TextStreamDecoder",
    "ToolCallAccumulator",
    "ToolCallFragment",
    "UnprocessableEntityError",
    "__version__",
    "completion_to_chunks",
    "parse_retry_after",
    "text_completion_to_chunks",
]

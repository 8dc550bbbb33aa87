"""``NugenMultiModal``: Nugen vision models as a LlamaIndex ``MultiModalLLM``, thin on
purpose (the fields, requests and calls are ``Nugen``'s, in ``_fields``)."""

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms import types as li
from llama_index.core.multi_modal_llms.base import MultiModalLLM, MultiModalLLMMetadata
from pydantic import Field

from llama_index_nugen import _convert
from llama_index_nugen._fields import ChatFields, Request
from llama_index_nugen._stream import ChatStream
from nugen_shared.models import DEFAULT_VISION_MODEL

__all__ = ["NugenMultiModal"]

ImageDocuments = Sequence[_convert.ImageInput]


class NugenMultiModal(ChatFields, MultiModalLLM):
    """Nugen vision models as a LlamaIndex `MultiModalLLM` (default `nugen-flash-vision`
    on the dedicated `/chat/vision` endpoint).

    `complete(prompt, image_documents)` and `chat(messages)` with images, their streaming
    and async forms. For tools or structured output with images, use `Nugen` with a
    vision model: the vision endpoint documents neither.

    Args:
        model: Default `nugen-flash-vision` (also `qwen3-vl-30b`, `nugen-lvm-legal`, ...).
        use_vision_endpoint: `True` (default): `/chat/vision`, which answers whole (a
            stream from it is one chunk); `False`: `/chat/completions`.
        temperature, max_tokens, top_p, top_k, stop, prompt_truncate_len, reasoning,
            additional_kwargs, context_window, max_image_bytes: as in `Nugen`.
        api_key, base_url, session_id, provider, timeout, max_retries, default_headers,
            deadline, max_response_bytes, max_event_bytes, allow_insecure_http: the
            connection, as in `Nugen`.

    Examples:
        ```python
        from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock
        from llama_index.core.schema import ImageDocument
        from llama_index.multi_modal_llms.nugen import NugenMultiModal

        mm = NugenMultiModal()
        print(mm.complete("Describe the image.", [ImageDocument(image_path="cat.png")]))
        blocks = [TextBlock(text="Describe the image."), ImageBlock(path="cat.png")]
        print(mm.chat([ChatMessage(role="user", blocks=blocks)]).message.content)
        ```

        Image documents: `ImageDocument` / `ImageNode` (a path, an https or `data:` URL,
        base64 text) and `ImageBlock`s; local bytes go as `data:` URLs with the mime
        type detected from the bytes. Results are as `Nugen`'s.
    """

    model: str = Field(default=DEFAULT_VISION_MODEL, description="The vision model to use.")
    use_vision_endpoint: bool = Field(
        default=True, description="Send requests to /chat/vision (False: /chat/completions)."
    )
    # MultiModalLLM's callback wrappers read these but MultiModalLLM does not define them.
    rate_limiter: Any | None = Field(
        default=None, exclude=True, description="Rate limiter to throttle calls."
    )

    @classmethod
    def class_name(cls) -> str:
        return "NugenMultiModal"

    @property
    def metadata(self) -> MultiModalLLMMetadata:
        return MultiModalLLMMetadata(**self._metadata_fields(), is_chat_model=True)

    def to_payload(self) -> dict[str, Any]:
        """What callbacks and instrumentation events see: metadata, never credentials."""
        return {"class_name": self.class_name(), **self.metadata.model_dump()}

    # MultiModalLLM.__init_subclass__ wraps each call with the LLM callbacks.

    def chat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponse:
        return self._send(self._chat_request(messages, kwargs))

    async def achat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponse:
        return await self._asend(self._chat_request(messages, kwargs))

    def stream_chat(self, messages: Sequence[li.ChatMessage], **kwargs: Any) -> li.ChatResponseGen:
        return self._send_stream(self._chat_request(messages, kwargs), ChatStream.chat_response)

    async def astream_chat(
        self, messages: Sequence[li.ChatMessage], **kwargs: Any
    ) -> li.ChatResponseAsyncGen:
        return self._asend_stream(self._chat_request(messages, kwargs), ChatStream.chat_response)

    def complete(
        self, prompt: str, image_documents: ImageDocuments, **kwargs: Any
    ) -> li.CompletionResponse:
        response = self._send(self._image_request(prompt, image_documents, kwargs))
        return _convert.chat_to_completion_response(response)

    async def acomplete(
        self, prompt: str, image_documents: ImageDocuments, **kwargs: Any
    ) -> li.CompletionResponse:
        response = await self._asend(self._image_request(prompt, image_documents, kwargs))
        return _convert.chat_to_completion_response(response)

    def stream_complete(
        self, prompt: str, image_documents: ImageDocuments, **kwargs: Any
    ) -> li.CompletionResponseGen:
        request = self._image_request(prompt, image_documents, kwargs)
        return self._send_stream(request, ChatStream.completion_response)

    async def astream_complete(
        self, prompt: str, image_documents: ImageDocuments, **kwargs: Any
    ) -> li.CompletionResponseAsyncGen:
        request = self._image_request(prompt, image_documents, kwargs)
        return self._asend_stream(request, ChatStream.completion_response)

    def _image_request(
        self, prompt: str, image_documents: ImageDocuments, kwargs: Mapping[str, Any]
    ) -> Request:
        message = _convert.prompt_with_images(
            prompt, image_documents, max_image_bytes=self.image_limit
        )
        return self._request([message], kwargs)

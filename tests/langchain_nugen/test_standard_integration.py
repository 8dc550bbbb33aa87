"""LangChain's standard integration suites for ChatNugen and NugenEmbeddings.

Every test (not only ``test_stream_time``) replays a cassette recorded from NugenEmulator,
with sockets blocked; ``NUGEN_RECORD=emulator`` re-records them. The suites fetch their
sample image from the internet with ``httpx.get``: that one call is answered locally.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
)

from langchain_nugen import ChatNugen, NugenEmbeddings
from tests.conftest import NugenTarget
from tests.support.langchain import PNG, keep
from tests.support.langchain_features import NugenChatFeatures

SUITE_IMAGE_URL = (
    "https://raw.githubusercontent.com/langchain-ai/docs/4d11d08b6b0e210bd456943f7a22febbd168b543"
    "/src/images/agentic-rag-output.png"
)


@pytest.fixture
def _local_suite_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard suite downloads its sample PNG; serve fixed bytes instead (no internet,
    and a deterministic request body for the cassette)."""

    def get(url: str, *args: Any, **kwargs: Any) -> httpx.Response:
        if url != SUITE_IMAGE_URL:
            raise AssertionError(f"unexpected download of {url}")
        return httpx.Response(200, content=PNG, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)


@pytest.fixture
def _seeded_uuid4(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's few-shot examples get tool-call ids from ``uuid.uuid4()``: draw them
    from a generator seeded by the test's name, so a re-recorded cassette is identical."""
    draw = random.Random(request.node.name).getrandbits
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=draw(128), version=4))


class TestChatNugenStandard(NugenChatFeatures, ChatModelIntegrationTests):
    target: NugenTarget

    @pytest.fixture(autouse=True)
    def _nugen(
        self, nugen_target: NugenTarget, _local_suite_image: None, _seeded_uuid4: None
    ) -> None:
        self.target = nugen_target

    @pytest.fixture
    def model(self, request: pytest.FixtureRequest) -> BaseChatModel:
        """The suite's own fixture, plus ``keep`` (see ``tests.support.langchain.KEEP_ALIVE``)."""
        extra = getattr(request, "param", None) or {}
        params = {**self.standard_chat_model_params, **self.chat_model_params, **extra}
        return keep(self.chat_model_class(**params))

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatNugen

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # qwen3-vl-30b: the provider's example model for images on /chat/completions, with
        # tool calling and reasoning.
        return {
            "model": "qwen3-vl-30b",
            "base_url": self.target.base_url,
            "api_key": self.target.api_key,
            "max_retries": 0,
        }

    @property
    def enable_vcr_tests(self) -> bool:
        return True

    @property
    def supported_usage_metadata_details(self) -> dict[str, list[Any]]:
        return {"invoke": ["reasoning_output"], "stream": ["reasoning_output"]}

    def invoke_with_reasoning_output(self, *, stream: bool = False) -> AIMessage:
        model = ChatNugen(**self.chat_model_params, reasoning={"effort": "low"})
        prompt = "What is 17 * 23? Think it through."
        if not stream:
            return model.invoke(prompt)
        full = None
        for chunk in model.stream(prompt):
            full = chunk if full is None else full + chunk
        assert isinstance(full, AIMessage)
        return full


class TestNugenEmbeddingsStandard(EmbeddingsIntegrationTests):
    target: NugenTarget

    @pytest.fixture(autouse=True)
    def _nugen(self, nugen_target: NugenTarget) -> None:
        self.target = nugen_target

    @pytest.fixture
    def model(self) -> Embeddings:
        """The suite's own fixture, plus ``keep`` (see ``tests.support.langchain.KEEP_ALIVE``)."""
        return keep(self.embeddings_class(**self.embedding_model_params))

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return NugenEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "model": "nugen-flash-embed",
            "base_url": self.target.base_url,
            "api_key": self.target.api_key,
            "max_retries": 0,
        }

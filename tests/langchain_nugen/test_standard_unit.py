"""LangChain's standard unit suites for ChatNugen and NugenEmbeddings."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from langchain_nugen import ChatNugen, NugenEmbeddings
from tests.support.langchain_features import NugenChatFeatures

# The module, not the ``load`` function that ``langchain_core.load`` re-exports.
lc_load = importlib.import_module("langchain_core.load.load")


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The serialized snapshot must not depend on the developer's environment.
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    monkeypatch.delenv("NUGEN_BASE_URL", raising=False)


@pytest.fixture
def _trusted_for_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``load(..., allowed_objects="all")`` revive ChatNugen, as it does the partner
    packages listed in langchain-core's own mapping.

    ``test_serdes`` loads with ``allowed_objects="all"``, which langchain-core 1.x limits to
    the classes in its built-in table; a package outside the LangChain monorepo cannot be
    in it. This registers ChatNugen for the duration of the test only (users pass
    ``allowed_objects=[ChatNugen]``, which ``test_langchain_chat_model`` checks).
    """
    path = tuple(ChatNugen.lc_id())
    monkeypatch.setitem(lc_load.ALL_SERIALIZABLE_MAPPINGS, path, path)
    monkeypatch.setattr(lc_load, "_default_class_paths_cache", {})


@pytest.mark.usefixtures("_trusted_for_load")
class TestChatNugenUnit(NugenChatFeatures, ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatNugen

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "nugen-flash-instruct", "api_key": "test-key"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"NUGEN_API_KEY": "env-key", "NUGEN_BASE_URL": "https://example.test/api/v3/inference"},
            {"model": "nugen-legal"},
            {
                "api_key": "env-key",
                "base_url": "https://example.test/api/v3/inference",
                "model": "nugen-legal",
            },
        )


class TestNugenEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return NugenEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "nugen-flash-embed", "api_key": "test-key"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"NUGEN_API_KEY": "env-key", "NUGEN_BASE_URL": "https://example.test/api/v3/inference"},
            {"model": "nugen-embed-legal"},
            {
                "api_key": "env-key",
                "base_url": "https://example.test/api/v3/inference",
                "model": "nugen-embed-legal",
            },
        )

"""The request fields are declared once (``nugen_client.params``): the wire models, the
client's keyword types and both adapters' classes take the same names, types, limits and
descriptions from that declaration."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM
from langchain_nugen import NugenRerank as LangChainRerank
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal
from llama_index_nugen import NugenRerank as LlamaIndexRerank
from nugen_client.params import (
    ChatCompletionRequest,
    ChatParams,
    CompletionParams,
    EmbeddingFields,
    EmbeddingParams,
    EmbeddingRequest,
    GenerationFields,
    RequestOptions,
    RerankParams,
    RerankRequest,
    SamplingFields,
    ScoringFields,
    TextCompletionFields,
    TextCompletionRequest,
)
from nugen_shared.fields import ReasoningField

# Each class that takes request fields, and the declaration its fields come from.
DECLARED: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (ChatCompletionRequest, GenerationFields),
    (TextCompletionRequest, TextCompletionFields),
    (ChatNugen, GenerationFields),
    (NugenLLM, TextCompletionFields),
    (Nugen, SamplingFields),
    (NugenMultiModal, SamplingFields),
    (EmbeddingRequest, EmbeddingFields),
    (NugenEmbeddings, EmbeddingFields),
    (NugenEmbedding, EmbeddingFields),
    (RerankRequest, ScoringFields),
    (LangChainRerank, ScoringFields),
    (LlamaIndexRerank, ScoringFields),
]


def _limits(cls: type[BaseModel], name: str) -> tuple[Any, ...]:
    field = cls.model_fields[name]
    return (field.annotation, field.default, field.description, field.metadata)


@pytest.mark.parametrize(("cls", "declaration"), DECLARED, ids=lambda c: c.__name__)
def test_each_class_takes_its_fields_from_the_declaration(
    cls: type[BaseModel], declaration: type[BaseModel]
) -> None:
    for name in declaration.model_fields:
        assert _limits(cls, name) == _limits(declaration, name), name


def test_only_the_completion_endpoint_lets_max_tokens_be_zero() -> None:
    assert TextCompletionRequest(model="m", prompt="p", max_tokens=0).max_tokens == 0
    assert NugenLLM(api_key="k", max_tokens=0).max_tokens == 0
    for make in (
        lambda: ChatCompletionRequest(
            model="m", messages=[{"role": "user", "content": "x"}], max_tokens=0
        ),
        lambda: ChatNugen(api_key="k", max_tokens=0),
        lambda: Nugen(api_key="k", max_tokens=0),
    ):
        with pytest.raises(ValidationError, match="max_tokens"):
            make()


def _body_fields(params: type[Any], payload: str) -> set[str]:
    names = params.__required_keys__ | params.__optional_keys__
    options = RequestOptions.__required_keys__ | RequestOptions.__optional_keys__
    return set(names - options - {"endpoint", "include_usage", payload})


def _keyword_type(params: type[Any], name: str) -> Any:
    return params.__annotations__[name]


@pytest.mark.parametrize(
    ("params", "request_model", "declaration", "payload"),
    [
        (ChatParams, ChatCompletionRequest, GenerationFields, "messages"),
        (CompletionParams, TextCompletionRequest, TextCompletionFields, "prompt"),
        (EmbeddingParams, EmbeddingRequest, EmbeddingFields, "input"),
        (RerankParams, RerankRequest, ScoringFields, "documents"),
    ],
    ids=["chat", "completion", "embeddings", "rerank"],
)
def test_the_call_keywords_mirror_the_declaration(
    params: type[Any],
    request_model: type[BaseModel],
    declaration: type[BaseModel],
    payload: str,
) -> None:
    # The keyword TypedDicts are written out for users' type checkers: the same body
    # fields as the wire model, and the declared fields with the declared types.
    assert _body_fields(params, payload) == set(request_model.model_fields) - {payload, "stream"}
    for name, field in declaration.model_fields.items():
        assert _keyword_type(params, name) == field.annotation, name


@pytest.mark.parametrize("cls", [ChatNugen, Nugen, NugenMultiModal], ids=lambda c: c.__name__)
def test_a_misspelt_reasoning_key_is_refused_at_construction(cls: type[BaseModel]) -> None:
    assert cls.model_fields["reasoning"].description == (
        ReasoningField.model_fields["reasoning"].description
    )
    assert cls(api_key="k", reasoning={"effort": "low"}).reasoning == {"effort": "low"}  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="effrt"):
        cls(api_key="k", reasoning={"effrt": "low"})


@pytest.mark.parametrize(
    ("cls", "declaration"),
    [(ChatNugen, GenerationFields), (NugenLLM, GenerationFields), (Nugen, SamplingFields)],
    ids=lambda c: c.__name__,
)
def test_the_class_documentation_names_every_declared_field(
    cls: type[BaseModel], declaration: type[BaseModel]
) -> None:
    words = set(re.findall(r"\w+", cls.__doc__ or ""))
    assert set(declaration.model_fields) <= words

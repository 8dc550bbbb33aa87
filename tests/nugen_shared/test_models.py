"""The model table: the live service's names, what the names tell, unknown figures."""

from __future__ import annotations

import pytest

from nugen_shared.models import DEFAULT_PROMPT_TRUNCATE_LEN, KNOWN_MODELS, model_info, prompt_budget

LIVE_CHAT = (
    "nugen-flash-instruct",
    "qwen-v2p5-0p5b-instruct",
    "llama-v3p2-3b-reasoning",
    "llama-v3p1-405b-instruct",
    "llama-v3p1-70b-instruct",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "deepseek-v3p2",
    "kimi-k2-thinking",
    "qwen3-8b",
    "glm-5p2",
)
LIVE_VISION = (
    "nugen-flash-vision",
    "qwen2-vl-2b-instruct",
    "qwen2p5-vl-32b-instruct",
    "qwen3-vl-30b-a3b-thinking",
    "qwen3-vl-235b-a22b-instruct",
    "phi-3-vision-128k-instruct",
)
LIVE_EMBEDDINGS = (
    "qwen3-embedding-8b",
    "nomic-embed-text-v1.5",
    "gte-large",
    "UAE-Large-V1",
    "nugen-embed-legal",
    "nugen-embed-healthcare",
)
REASONING = {
    "nugen-flash-instruct",
    "llama-v3p2-3b-reasoning",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "deepseek-v3p2",
    "kimi-k2-thinking",
    "qwen3-vl-30b-a3b-thinking",
}


@pytest.mark.parametrize("name", LIVE_CHAT + LIVE_VISION + LIVE_EMBEDDINGS)
def test_the_live_names_are_known_with_what_their_names_tell(name: str) -> None:
    info = KNOWN_MODELS[name]
    assert info.image_inputs is (name in LIVE_VISION)
    assert info.embeddings is (name in LIVE_EMBEDDINGS)
    assert info.reasoning is (name in REASONING)
    assert info.tool_calling is (name not in LIVE_EMBEDDINGS)


def test_any_other_name_works_and_an_aligned_reasoning_model_is_recognised() -> None:
    aligned = model_info("model_acme-llama-v3p2-3b-reasoning-aligned_alignment_01kx06")
    assert aligned.reasoning
    assert aligned.tool_calling
    plain = model_info("acme-alignment-01kx06fntz2af3b")
    assert plain.name == "acme-alignment-01kx06fntz2af3b"
    assert not plain.reasoning


def test_the_prompt_budget_is_what_the_service_keeps_of_a_prompt() -> None:
    assert DEFAULT_PROMPT_TRUNCATE_LEN == 1500
    assert prompt_budget(None) == 1500
    assert prompt_budget(6000) == 6000

"""What we know of Nugen's models (names from the provider's reference pages and public
cookbook), for LangChain profiles and LlamaIndex metadata. What nobody published (context
windows) is left ``None``, and every figure can be set per instance. A name not in the
table is never an error: it is taken for a tool-calling chat model that takes images, with
reasoning when its name says so.
"""

from dataclasses import dataclass

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_PROMPT_TRUNCATE_LEN",
    "DEFAULT_RERANK_MODEL",
    "DEFAULT_VISION_MODEL",
    "FALLBACK_MAX_OUTPUT_TOKENS",
    "KNOWN_MODELS",
    "ModelInfo",
    "model_info",
    "prompt_budget",
]

DEFAULT_CHAT_MODEL = "nugen-flash-instruct"
DEFAULT_VISION_MODEL = "nugen-flash-vision"
DEFAULT_EMBEDDING_MODEL = "nugen-flash-embed"
# The reranking model of the service's reference examples.
DEFAULT_RERANK_MODEL = "bge-reranker-v2-m3"

DEFAULT_PROMPT_TRUNCATE_LEN = 1500
"""The service's documented default truncation: without ``prompt_truncate_len`` it
truncates chat prompts to 1500 tokens."""
FALLBACK_MAX_OUTPUT_TOKENS = 4_096
"""The output budget LlamaIndex metadata reports when neither ``max_tokens`` nor the
table gives one."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Capabilities of one model (``None``: not published)."""

    name: str
    max_output_tokens: int | None = None
    image_inputs: bool = False
    tool_calling: bool = True
    structured_output: bool = True
    reasoning: bool = False
    embeddings: bool = False


def prompt_budget(prompt_truncate_len: int | None) -> int:
    """The most prompt tokens the service keeps: ``prompt_truncate_len``, else its default
    (Nugen publishes no context windows). Frameworks told a larger budget pack prompts
    the service then cuts, and answer from part of them."""
    return prompt_truncate_len or DEFAULT_PROMPT_TRUNCATE_LEN


_REASONING_MARKERS = ("thinking", "reasoning", "gpt-oss-", "deepseek-")


def _chat(name: str, *, image_inputs: bool = False, reasoning: bool = False) -> ModelInfo:
    reasoning = reasoning or any(marker in name.lower() for marker in _REASONING_MARKERS)
    return ModelInfo(name, image_inputs=image_inputs, reasoning=reasoning)


def _embedding(name: str) -> ModelInfo:
    # No output and no tools, should one be named as a chat model.
    return ModelInfo(
        name, max_output_tokens=0, tool_calling=False, structured_output=False, embeddings=True
    )


KNOWN_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        # chat / completion
        _chat("nugen-flash-instruct", reasoning=True),
        _chat("nugen-legal"),  # domain-aligned: sends a confidence
        _chat("qwen-v2p5-0p5b-instruct"),
        _chat("llama-v3p2-3b-reasoning"),
        _chat("llama-v3p1-405b-instruct"),
        _chat("llama-v3p1-70b-instruct"),
        _chat("gpt-oss-20b"),
        _chat("gpt-oss-120b"),
        _chat("deepseek-v3p2"),
        _chat("kimi-k2-thinking"),
        _chat("qwen3-8b"),
        _chat("glm-5p2"),
        # vision
        _chat("nugen-flash-vision", image_inputs=True),
        _chat("qwen3-vl-30b", image_inputs=True, reasoning=True),
        _chat("nugen-lvm-legal", image_inputs=True),
        _chat("qwen2-vl-2b-instruct", image_inputs=True),
        _chat("qwen2p5-vl-32b-instruct", image_inputs=True),
        _chat("qwen3-vl-30b-a3b-thinking", image_inputs=True),
        _chat("qwen3-vl-235b-a22b-instruct", image_inputs=True),
        _chat("phi-3-vision-128k-instruct", image_inputs=True),
        # NebulaBlock's OpenAI-compatible vision model (see docs/parameters.md).
        _chat("Qwen/Qwen2.5-VL-7B-Instruct", image_inputs=True),
        # embeddings
        _embedding("nugen-flash-embed"),
        _embedding("qwen3-embedding-8b"),
        _embedding("nomic-embed-text-v1.5"),
        _embedding("gte-large"),
        _embedding("UAE-Large-V1"),
        _embedding("nugen-embed-legal"),
        _embedding("nugen-embed-healthcare"),
    )
}


def model_info(name: str) -> ModelInfo:
    """The table's entry for ``name``, or what a name not in it is taken for."""
    return KNOWN_MODELS.get(name) or _chat(name, image_inputs=True)

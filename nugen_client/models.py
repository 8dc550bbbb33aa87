"""What we know of Nugen's models, for LangChain profiles and LlamaIndex metadata.

The provider's pages name the models but publish no context windows, so the numbers below
are conservative figures for the underlying model families; every one can be overridden
per instance (``context_window=...`` / ``profile=...``). A name not in the table is never
an error: it gets :data:`UNKNOWN_MODEL`, a profile that assumes a capable chat model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_VISION_MODEL",
    "KNOWN_MODELS",
    "UNKNOWN_MODEL",
    "ModelInfo",
    "model_info",
]

DEFAULT_CHAT_MODEL = "nugen-flash-instruct"
DEFAULT_VISION_MODEL = "nugen-flash-vision"
DEFAULT_EMBEDDING_MODEL = "nugen-flash-embed"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Capabilities of one model."""

    name: str
    context_window: int = 32_768
    max_output_tokens: int = 4_096
    image_inputs: bool = False
    tool_calling: bool = True
    structured_output: bool = True
    reasoning: bool = False


KNOWN_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("nugen-flash-instruct", reasoning=True),
        ModelInfo("nugen-legal"),
        ModelInfo("nugen-flash-vision", image_inputs=True),
        ModelInfo("qwen3-vl-30b", context_window=131_072, image_inputs=True, reasoning=True),
        ModelInfo("nugen-lvm-legal", image_inputs=True),
        # Embedding models: no output and no tools, should one be named as a chat model.
        ModelInfo(
            "nugen-flash-embed",
            context_window=8_192,
            max_output_tokens=0,
            tool_calling=False,
            structured_output=False,
        ),
        ModelInfo(
            "nugen-embed-legal",
            context_window=8_192,
            max_output_tokens=0,
            tool_calling=False,
            structured_output=False,
        ),
        # NebulaBlock's OpenAI-compatible vision model (see the README's hosts section).
        ModelInfo("Qwen/Qwen2.5-VL-7B-Instruct", image_inputs=True),
    )
}

UNKNOWN_MODEL = ModelInfo("", image_inputs=True)
"""Assumed for names not in the table: a tool-calling chat model that takes images."""


def model_info(name: str) -> ModelInfo:
    """The table's entry for ``name``, or :data:`UNKNOWN_MODEL` under that name."""
    info = KNOWN_MODELS.get(name)
    return info if info is not None else replace(UNKNOWN_MODEL, name=name)

"""A reply before it is rendered: what the model (or a hook) hands the wire renderer."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

DOMAIN_ALIGNED_MODELS = frozenset({"nugen-legal", "nugen-lvm-legal", "nugen-embed-legal"})
_PIECE_RE = re.compile(r"\s*\S+")


def count_tokens(text: str) -> int:
    """The emulator's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """``text`` as tokens that concatenate back to it (each keeps its leading whitespace)."""
    found = _PIECE_RE.findall(text)
    tail = text[sum(len(p) for p in found) :]
    if tail and found:
        found[-1] += tail
    return found or ([text] if text else [])


def stable_hash(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def confidence_score(model: str, text: str) -> float | None:
    """A deterministic score in [50, 100) for domain-aligned models, else ``None``."""
    if model not in DOMAIN_ALIGNED_MODELS:
        return None
    return round(50 + (stable_hash(model, text) % 500_000) / 10_000, 4)


@dataclass
class ToolCall:
    """A tool call of a choice; ``arguments`` is the JSON text, ``id`` empty until set."""

    name: str
    arguments: str
    id: str = ""


@dataclass
class Choice:
    """One generated choice, before it is rendered in a dialect."""

    content: str | None
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None  # None when not requested or excluded
    reasoning_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        tokens = self.reasoning_tokens + count_tokens(self.content or "")
        for call in self.tool_calls:
            tokens += 1 + count_tokens(call.arguments)
        return tokens


@dataclass
class Generation:
    """A reply before it is rendered in a dialect: its choices and the prompt's tokens."""

    choices: list[Choice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)

    @property
    def reasoning_tokens(self) -> int:
        return sum(choice.reasoning_tokens for choice in self.choices)

"""Constants every part of the emulator (and its import-light package root) shares."""

from __future__ import annotations

DEFAULT_API_KEY = "test-key"
BASE_PATHS: dict[str, str] = {"nugen": "/api/v3/inference", "openai": "/v1"}
DEFAULT_EMBEDDING_DIMENSIONS = 384

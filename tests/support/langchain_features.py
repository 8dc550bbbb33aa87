"""What ChatNugen supports, declared once for LangChain's unit and integration suites.

The standard suites read these flags to decide which tests apply; both suites must tell
the same (honest) story, so they inherit it from here rather than repeating it.
"""

from __future__ import annotations


class NugenChatFeatures:
    """Mixin for the ``langchain_tests`` chat-model suites (put it first among the bases)."""

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        # The client and emulator support response_format; the Nugen docs are silent.
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "nugen-legal"

"""LangChain: describe an image from a local file and from a URL, on both endpoints.

Chat completions (/chat/completions) take images in vision models such as qwen3-vl-30b;
the dedicated vision endpoint (/chat/vision, nugen-flash-vision) is used with
use_vision_endpoint=True.
"""

import base64
from pathlib import Path

from langchain_core.messages import HumanMessage

from langchain_nugen import ChatNugen

IMAGE_FILE = Path(__file__).parent / "assets" / "blue-circle.png"
IMAGE_URL = (
    "https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"
)


def ask(model: ChatNugen, image_block: dict) -> str:
    message = HumanMessage(
        content=[{"type": "text", "text": "Describe this image in one sentence."}, image_block]
    )
    return model.invoke([message]).text


# A local file goes as base64 data (sent as a data: URL with its mime type); a URL is
# passed through and fetched by the service. Only https URLs are accepted.
from_file = {
    "type": "image",
    "base64": base64.b64encode(IMAGE_FILE.read_bytes()).decode(),
    "mime_type": "image/png",
}
from_url = {"type": "image", "url": IMAGE_URL}
# OpenAI-style blocks work as well:
openai_style = {"type": "image_url", "image_url": {"url": IMAGE_URL}}

chat = ChatNugen(model="qwen3-vl-30b")
vision = ChatNugen(model="nugen-flash-vision", use_vision_endpoint=True)
for name, model in (("/chat/completions", chat), ("/chat/vision", vision)):
    print(f"{name}, file:", ask(model, from_file))
    print(f"{name}, URL: ", ask(model, from_url))
print("OpenAI-style block:", ask(chat, openai_style))

"""Any OpenAI-compatible host (here NebulaBlock) through the same classes.

    export NEBULABLOCK_API_KEY=...
    python examples/openai_compatible_host.py

NEBULABLOCK_BASE_URL overrides the host (the tests point it at the emulator's "openai"
dialect: python -m nugen_emulator --dialect openai). Only the parameters you set
are sent, so Nugen-only fields (prompt_truncate_len, reasoning, X-Session-ID, ...) never
reach a host that might reject them; the one field sent unasked is
stream_options={"include_usage": true} on streams (turn it off with stream_usage=False).
"""

import base64
import os
from pathlib import Path

from langchain_core.messages import HumanMessage
from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen

BASE_URL = os.environ.get("NEBULABLOCK_BASE_URL", "https://inference.nebulablock.com/v1")
API_KEY = os.environ["NEBULABLOCK_API_KEY"]
MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
IMAGE = Path(__file__).parent / "assets" / "blue-circle.png"

# LangChain: stream a text answer (usage arrives on the last chunk).
model = ChatNugen(base_url=BASE_URL, api_key=API_KEY, model=MODEL, temperature=0.3)
full = None
for chunk in model.stream("Name three uses of a vision-language model."):
    print(chunk.text, end="", flush=True)
    full = chunk if full is None else full + chunk
print("\nusage:", full.usage_metadata)

# LangChain: the same model reads an image.
picture = {
    "type": "image",
    "base64": base64.b64encode(IMAGE.read_bytes()).decode(),
    "mime_type": "image/png",
}
reply = model.invoke([HumanMessage([{"type": "text", "text": "What is this?"}, picture])])
print("LangChain vision:", reply.text)

# LlamaIndex: the same host and model.
llm = Nugen(base_url=BASE_URL, api_key=API_KEY, model=MODEL)
message = ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(path=IMAGE)])
print("LlamaIndex vision:", llm.chat([message]).message.content)

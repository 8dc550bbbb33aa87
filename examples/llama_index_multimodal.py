"""LlamaIndex: images through NugenMultiModal (/chat/vision) and through Nugen (ImageBlock)."""

from pathlib import Path

from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock
from llama_index.core.schema import ImageDocument

from llama_index_nugen import Nugen, NugenMultiModal

IMAGE_FILE = Path(__file__).parent / "assets" / "blue-circle.png"
IMAGE_URL = (
    "https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"
)

# NugenMultiModal: a MultiModalLLM on the dedicated vision endpoint (model
# nugen-flash-vision). Images are ImageDocument / ImageNode / ImageBlock objects.
vision = NugenMultiModal()
response = vision.complete(
    "Describe this image in one sentence.",
    image_documents=[ImageDocument(image_path=str(IMAGE_FILE))],
)
print("/chat/vision, ImageDocument(image_path=...):", response.text)
# ImageDocument(image_url=...) downloads the image in LlamaIndex itself to check it;
# ImageBlock(url=...) hands the URL to the service untouched.
response = vision.complete("Describe this image.", image_documents=[ImageBlock(url=IMAGE_URL)])
print("/chat/vision, ImageBlock(url=...):", response.text)

# Nugen (an LLM): LlamaIndex's newer way, ImageBlocks inside chat messages, on
# /chat/completions with a vision model. Bytes, paths and URLs all work.
llm = Nugen(model="qwen3-vl-30b")
message = ChatMessage(
    role="user",
    blocks=[
        TextBlock(text="Compare these two images."),
        ImageBlock(image=IMAGE_FILE.read_bytes()),  # mime type detected from the bytes
        ImageBlock(url=IMAGE_URL),
    ],
)
print("/chat/completions, streamed: ", end="")
for partial in llm.stream_chat([message]):
    print(partial.delta, end="", flush=True)
print()

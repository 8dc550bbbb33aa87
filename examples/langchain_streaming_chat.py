"""LangChain: stream a chat answer token by token, then read its usage and metadata.

export NUGEN_API_KEY=...          # or point both variables at an emulator:
python -m nugen_emulator &  # prints the NUGEN_BASE_URL / NUGEN_API_KEY to export
python examples/langchain_streaming_chat.py
"""

import asyncio

from langchain_core.messages import HumanMessage, SystemMessage

from langchain_nugen import ChatNugen

# No connection arguments: ChatNugen reads NUGEN_API_KEY and NUGEN_BASE_URL.
# nugen-legal is a domain-aligned model, so its answers carry a confidence score.
model = ChatNugen(model="nugen-legal", temperature=0.2, max_tokens=300)

messages = [
    SystemMessage("You are a concise legal assistant."),
    HumanMessage("What does a force majeure clause do?"),
]

full = None
for chunk in model.stream(messages):
    print(chunk.text, end="", flush=True)
    # Chunks add up to the whole message; the last one carries usage and metadata.
    full = chunk if full is None else full + chunk
print()
print("usage:", full.usage_metadata)
print("finish reason:", full.response_metadata["finish_reason"])
print("confidence score:", full.response_metadata.get("confidence_score"))


# The same in async code. session_id (sent as X-Session-ID) lets the service track a
# multi-turn conversation; it can be set on the model or, as here, per call.
async def follow_up() -> None:
    history = [*messages, full, HumanMessage("Give one example of such an event.")]
    async for chunk in model.astream(history, session_id="contract-review-42"):
        print(chunk.text, end="", flush=True)
    print()


asyncio.run(follow_up())

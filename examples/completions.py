"""Text completions (POST /completions): the two flows of Nugen's cookbook, done with this
package: LangChain's NugenLLM in a chain, and LlamaIndex's Nugen with is_chat_model=False.

export NUGEN_API_KEY=...          # or point both variables at an emulator:
python -m nugen_emulator &  # prints the NUGEN_BASE_URL / NUGEN_API_KEY to export
python examples/completions.py
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from langchain_nugen import NugenLLM
from llama_index.llms.nugen import Nugen

# LangChain: a prompt template, the completion model and a string parser in one chain.
llm = NugenLLM(model="qwen-v2p5-0p5b-instruct", max_tokens=100, temperature=0.2)
chain = PromptTemplate.from_template("Write a tagline for a {product}:") | llm | StrOutputParser()
print("chain:", chain.invoke({"product": "space telescope"}).strip())

# Several prompts: sent together (batch_size per request), each answer keeps its metadata.
result = llm.generate(["Once upon a time", "The quick brown fox"])
print("token usage:", result.llm_output["token_usage"])
info = result.generations[0][0].generation_info
print("finish reason:", info["finish_reason"])
print("timing:", info.get("timing"))

# Streaming, piece by piece.
print("streamed: ", end="")
for piece in llm.stream("Ad astra per"):
    print(piece, end="", flush=True)
print()

# LlamaIndex: the cookbook's call, on /completions rather than the chat endpoint.
li_llm = Nugen(model="qwen-v2p5-0p5b-instruct", is_chat_model=False)
response = li_llm.complete("To infinity, and")
print("llama-index:", response.text.strip())
print("is chat model:", li_llm.metadata.is_chat_model)
print("completion tokens:", response.additional_kwargs["completion_tokens"])

"""LlamaIndex: retrieval-augmented generation with NugenEmbedding and Nugen.

Documents are chunked, embedded with NugenEmbedding (model nugen-flash-embed), stored in
an in-memory VectorStoreIndex, and the best chunks are handed to Nugen to answer.
"""

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.node_parser import SentenceSplitter

from llama_index_nugen import Nugen, NugenEmbedding

# Settings are LlamaIndex's global defaults; without them it would reach for OpenAI.
Settings.llm = Nugen(model="nugen-flash-instruct", temperature=0)
Settings.embed_model = NugenEmbedding()  # or NugenEmbedding(model_name="nugen-embed-legal")

documents = [
    Document(text="The Eiffel Tower is 330 metres tall and stands in Paris.", id_="eiffel"),
    Document(text="Mount Fuji is 3776 metres high and stands in Japan.", id_="fuji"),
    Document(text="The Nile is about 6650 kilometres long.", id_="nile"),
]
index = VectorStoreIndex.from_documents(
    documents, transformations=[SentenceSplitter(chunk_size=256, chunk_overlap=20)]
)

# Streaming query: tokens are printed as they arrive.
engine = index.as_query_engine(similarity_top_k=2, streaming=True)
response = engine.query("How tall is the Eiffel Tower?")
response.print_response_stream()
print()
for source in response.source_nodes:
    print(
        f"source {source.node.ref_doc_id} (score {source.score:.3f}): {source.node.get_content()}"
    )

# A chat engine keeps the conversation and retrieves for each turn. (A plain memory
# buffer: LlamaIndex's default Memory opens an SQLite connection it never closes.)
chat = index.as_chat_engine(
    chat_mode="condense_plus_context",
    similarity_top_k=1,
    memory=ChatMemoryBuffer.from_defaults(),
)
print("chat:", chat.chat("Which mountain stands in Japan, and how high is it?").response)

"""The reranker's answer: documents scored against the query by shared words.

The score is the cosine of the two bags of words the emulator's embeddings are built
from, so a document the embeddings put near the query is also the one ranked first.
"""

from __future__ import annotations

import json
from typing import Any

from nugen_emulator._validation import CROSS_ENCODER_METHODS, RerankRequest
from nugen_emulator._words import similarity

_HYBRID_METHOD = "optimal"


def document_text(document: str | dict[str, Any]) -> str:
    """What a document says: itself, an object's ``text`` field, or else the whole object."""
    if isinstance(document, str):
        return document
    text = document.get("text")
    return text if isinstance(text, str) else json.dumps(document, sort_keys=True)


def rerank_body(request: RerankRequest) -> dict[str, Any]:
    """``{"results": [...], "meta": {...}}``, most relevant first (ties in request order)."""
    scores = [similarity(request.query, document_text(d)) for d in request.documents]
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.top_n]
    results: list[dict[str, Any]] = []
    for index in ranked:
        result: dict[str, Any] = {"index": index, "relevance_score": round(scores[index], 6)}
        if request.return_documents:
            result["document"] = request.documents[index]
        results.append(result)
    meta: dict[str, Any] = {"method": request.method, "deployed_model_id": request.model}
    if request.method in CROSS_ENCODER_METHODS:
        meta["model_cross"] = request.model_cross
    if request.method == _HYBRID_METHOD:
        meta["stage1_top_k"] = request.stage1_top_k
    return {"results": results, "meta": meta}

"""``nugen-demo``: the package doing its real work in one command.

With no ``NUGEN_API_KEY`` it starts the embedded :class:`~nugen_emulator.NugenEmulator`
and says so on its first line; with a key it talks to the live service (or to
``NUGEN_BASE_URL``). Then it runs five short parts, printing as the answers arrive:

1. LangChain: ``ChatNugen`` streams an answer, then its usage and confidence score.
2. LangChain: a ``create_agent`` agent calls two tools to finish a task.
3. Vision: an image described through ``/chat/vision`` and through chat completions,
   from a local file and from a URL.
4. LlamaIndex: a RAG query over this project's README: candidates by embedding,
   reranked by ``NugenRerank``, the answer from the best two.
5. Structured output into a pydantic model, in both frameworks.

The parts live in :mod:`nugen_demo._parts` (read it: each part is what you would write in
your own app); :mod:`nugen_demo._app` picks the backend and turns failures into one line.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``nugen-demo``); returns the exit status."""
    from nugen_demo._app import run

    return run(sys.argv[1:] if argv is None else argv)


__all__ = ["main"]

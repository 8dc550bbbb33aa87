"""Pick the backend, run the five parts, and turn any failure into one clear line."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nugen_client import APIConnectionError, APIStatusError, AuthenticationError, NugenError
from nugen_client.params import DEFAULT_BASE_URL

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Backend:
    """Where the demo's requests go, in words (first line) and as a URL (error messages)."""

    description: str
    base_url: str


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    _never_fail_on_odd_characters()
    backend: Backend | None = None
    try:
        from nugen_demo import _parts  # LangChain and LlamaIndex: not needed for --help

        with _choose_backend() as backend:
            print(f"nugen-demo: running against {backend.description}", flush=True)
            for number, (title, part) in enumerate(_parts.PARTS, start=1):
                print(f"\n== {number}. {title}", flush=True)
                part()
    except KeyboardInterrupt:
        print("\nnugen-demo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``nugen-demo | head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        print(f"\nnugen-demo: {_explain(exc, backend)}", file=sys.stderr)
        return EXIT_FAILED
    print("\nnugen-demo: all five parts ran. Next: the README's quickstarts, docs/ and examples/.")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nugen-demo",
        description=(
            "Run the Nugen integrations end to end: LangChain chat and agent, vision, "
            "LlamaIndex RAG, structured output. Without NUGEN_API_KEY it uses an embedded "
            "NugenEmulator (no network); with it, the live service or NUGEN_BASE_URL."
        ),
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    return parser


@contextmanager
def _choose_backend() -> Iterator[Backend]:
    """The live service when NUGEN_API_KEY is set, else an emulator for the demo's lifetime.

    The adapters read NUGEN_API_KEY and NUGEN_BASE_URL themselves, so the parts construct
    them exactly as a user's app would (``ChatNugen(model=...)``, no connection arguments);
    for the emulator we set both variables for as long as it runs.
    """
    if os.environ.get("NUGEN_API_KEY"):
        base_url = os.environ.get("NUGEN_BASE_URL") or DEFAULT_BASE_URL
        where = "the live Nugen service" if base_url == DEFAULT_BASE_URL else "the service"
        yield Backend(f"{where} at {base_url} (NUGEN_API_KEY is set)", base_url)
        return

    from nugen_emulator import NugenEmulator  # needs the "testing" extra

    ignored = (
        " (NUGEN_BASE_URL is ignored without a key)" if os.environ.get("NUGEN_BASE_URL") else ""
    )
    with (
        NugenEmulator() as emulator,
        _environment(NUGEN_API_KEY=emulator.api_key, NUGEN_BASE_URL=emulator.base_url),
    ):
        yield Backend(
            f"the embedded NugenEmulator at {emulator.base_url} (NUGEN_API_KEY is not set)"
            f"{ignored}\n"
            "  It is a local stand-in, no network, not a model: its answers quote your question\n"
            "  and describe what it received; its embeddings are bags of hashed words, so\n"
            "  retrieval finds the texts that share the most words with the question (part 4).\n"
            "  Set NUGEN_API_KEY to use the live service.",
            emulator.base_url,
        )


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _explain(exc: BaseException, backend: Backend | None) -> str:
    """One line a newcomer can act on (frameworks may wrap our errors: look inside)."""
    error = _find_nugen_error(exc) or exc
    message = " ".join(str(error).split())  # a 422 lists its fields on several lines
    where = backend.base_url if backend else os.environ.get("NUGEN_BASE_URL", DEFAULT_BASE_URL)
    if isinstance(error, AuthenticationError):
        return f"the service at {where} refused the API key ({message}). Check NUGEN_API_KEY."
    if isinstance(error, APIConnectionError):
        return f"no connection to {where}: {message}. Check NUGEN_BASE_URL and your network."
    if isinstance(error, (APIStatusError, NugenError)):
        return f"the request failed: {_public_name(error)}: {message}"
    if isinstance(error, ImportError):
        return f'{message}. Install everything with: pip install "nugen-integrations[all]"'
    return f"unexpected {type(error).__name__}: {message} (nugen-demo --debug shows where)"


def _find_nugen_error(exc: BaseException) -> NugenError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NugenError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _public_name(error: NugenError) -> str:
    """``AuthenticationError`` rather than the LangChain adapter's subclass name."""
    for cls in type(error).__mro__:
        if cls.__module__.startswith("nugen_client"):
            return cls.__name__
    return type(error).__name__


def _never_fail_on_odd_characters() -> None:
    # Answers quote the README and the service's text; a console that cannot encode some
    # character (Windows code pages) should show "?" rather than crash the demo.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")

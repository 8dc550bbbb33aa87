"""Console output of the demo: labelled lines, wrapped and indented under each heading."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WIDTH = 96
INDENT = "   "
CONTINUATION = INDENT + "  "


def say(label: str, text: str) -> None:
    """Print ``label: text`` at once, wrapped."""
    first = f"{INDENT}{label}: "
    print(textwrap.fill(text, width=WIDTH, initial_indent=first, subsequent_indent=CONTINUATION))


@contextmanager
def streamed_line(label: str) -> Iterator[Callable[[str], None]]:
    """Print ``label:`` and then each piece handed to the yielded function, as it comes.

    Pieces are tokens as the service streams them ("Hello", " world", ...); a piece that
    would cross the right margin and starts with a space begins a new line instead. The
    label waits for the first piece, so an error before it leaves no dangling label.
    """
    column = 0

    def show(piece: str) -> None:
        nonlocal column
        if not piece:
            return
        if column == 0:
            print(f"{INDENT}{label}: ", end="")
            column = len(INDENT) + len(label) + 2
        if column + len(piece) > WIDTH and piece[0].isspace() and column > len(CONTINUATION):
            piece = piece.lstrip()
            print(f"\n{CONTINUATION}", end="")
            column = len(CONTINUATION)
        if "\n" in piece:  # a paragraph break: keep the answer indented
            piece = piece.replace("\n", "\n" + CONTINUATION)
            column = len(piece) - piece.rfind("\n") - 1
        else:
            column += len(piece)
        print(piece, end="", flush=True)

    yield show
    print("" if column else f"{INDENT}{label}: (nothing)", flush=True)

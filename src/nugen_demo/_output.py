"""Console output of the demo: labelled lines, wrapped and indented under each heading."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

WIDTH = 96
INDENT = "   "
CONTINUATION = INDENT + "  "


def say(label: str, text: str) -> None:
    """Print ``label: text`` at once, wrapped."""
    first = f"{INDENT}{label}: "
    print(textwrap.fill(text, width=WIDTH, initial_indent=first, subsequent_indent=CONTINUATION))


def stream_to_console(label: str, pieces: Iterable[str]) -> None:
    """Print ``label:`` then each piece the moment it arrives, wrapping between words.

    Pieces are tokens as the service streams them ("Hello", " world", ...). A piece that
    would cross the right margin and starts with a space begins a new line instead. The
    label waits for the first piece, so an error before it does not follow a dangling label.
    """
    line = f"{INDENT}{label}: "
    column = len(line)
    started = False
    for piece in pieces:
        if not piece:
            continue
        if not started:
            print(line, end="")
            started = True
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
    print("" if started else f"{line}(nothing)", flush=True)

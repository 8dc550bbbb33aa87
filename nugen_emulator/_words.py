"""Bag-of-words text similarity: the emulator's embeddings and its retrieval-shaped answers
share one tokeniser, so the sentence picked from a RAG prompt is the one the embeddings
would rank first."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from functools import lru_cache

_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# Function words carry no topic; keeping them would make every question close to every
# sentence that also says "the" and "how".
_STOP_WORDS = """
    a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me
    more most my no nor not of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[^a-z\s])")
_MIN_SENTENCE_WORDS = 4


def _stem(word: str) -> str:
    """Plural and third-person ``s`` off, so "tests" meets "test" (nothing cleverer)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits; ``_`` splits), stop words dropped, stemmed."""
    found = (w.replace("'", "") for w in _WORD_RE.findall(text.lower()))
    return [_stem(w) for w in found if w not in STOP_WORDS]


# The weight of a whole-text hash mixed into every vector: texts sharing no word would
# otherwise score exactly 0 against a query, and retrievers break such ties by node ids,
# which are random (a recorded retrieval would not replay). Small enough that one shared
# word always outweighs it.
_TIE_BREAK_WEIGHT = 0.05


@lru_cache(maxsize=8192)
def unit_vector(text: str, dimensions: int) -> tuple[float, ...]:
    """Feature hashing (each word adds ``1 + log(count)`` at its hashed index and sign)
    plus a little of a whole-text hash, so no two texts tie; unit length."""
    bag = [0.0] * dimensions
    for word, count in Counter(words(text)).items():
        digest = hashlib.sha256(word.encode("utf-8", "surrogatepass")).digest()
        sign = 1.0 if digest[8] & 1 else -1.0  # the index and the sign hashed from the word
        bag[int.from_bytes(digest[:8], "big") % dimensions] += sign * (1.0 + math.log(count))
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    noise = _normalised([rng.gauss(0.0, 1.0) for _ in range(dimensions)])
    if not any(bag):
        return tuple(noise)
    bag = _normalised(bag)
    return tuple(_normalised([b + _TIE_BREAK_WEIGHT * n for b, n in zip(bag, noise, strict=True)]))


def _normalised(values: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def similarity(first: str, second: str) -> float:
    """The cosine of the two texts' word bags (the embeddings without hash collisions)."""
    a, b = Counter(words(first)), Counter(words(second))
    dot = sum((1 + math.log(a[w])) * (1 + math.log(b[w])) for w in a.keys() & b.keys())
    if not dot:
        return 0.0
    norms = [math.sqrt(sum((1 + math.log(c)) ** 2 for c in bag.values())) for bag in (a, b)]
    return dot / (norms[0] * norms[1])


def sentences(text: str) -> list[str]:
    """Candidate answer sentences: split at sentence ends and Markdown line structure;
    short fragments, fences, rules and metadata lines (``file_name: x.md``) dropped."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        rule = not line or re.fullmatch(r"[-=*_`~#|:\s]{3,}", line) or line.startswith("```")
        # A node's metadata line, not prose.
        metadata = re.fullmatch(r"[\w ]{1,40}: \S+", line) and len(line.split()) <= 3
        if rule or metadata or re.match(r"(#{1,6} |[-*+] |\d+\. |\|)", line):
            paragraphs.append([])
        if not (rule or metadata):
            paragraphs[-1].append(line)
    split = (
        sentence.strip()
        for paragraph in paragraphs
        for sentence in _SENTENCE_END_RE.split(" ".join(paragraph))
    )
    return [s for s in split if words(s) and len(s.split()) >= _MIN_SENTENCE_WORDS]


def best_sentence(context: str, question: str) -> str | None:
    """The context sentence closest to the question (first one on ties), or ``None``."""
    scored = [(similarity(sentence, question), sentence) for sentence in sentences(context)]
    score, best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    return best if score > 0 else None

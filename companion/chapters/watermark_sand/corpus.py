"""Watermarks in the sand, part 1: the world, documentation text that ships with Python.

The text is the prose of the standard library's docstrings and of Python's own topic help, split into
word tokens; a vocabulary of the most frequent ones; and a deal of the documents into the shares each
model of the chapter trains on, so that no two models see the same text.
"""
from __future__ import annotations

import ast
import dataclasses
import platform
import re
import sysconfig
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from companion.core.cache import Result, cached

NAME = "watermark-sand"
VERSION = 3  # 3: text split three ways, three attackers and a separate oracle, regeneration, the discriminator
UNKNOWN = "<unk>"
TOKEN = re.compile(r"[a-z_][a-z0-9_]*(?:'[a-z]+)?|[0-9]+|[^\sa-z0-9_]")

# reStructuredText underlines (a line of one repeated mark) and interactive-session lines are not prose
NOT_PROSE = re.compile(r"^\s*(?:([^\w\s])\1{2,}|>>>.*|\.\.\. .*)\s*$", re.M)


def tokenize(text: str) -> list[str]:
    """Lower-case words (identifiers with underscores count as words), numbers and single marks."""
    return TOKEN.findall(NOT_PROSE.sub("", text).lower())


def detokenize(tokens: list[str]) -> str:
    """Words joined by spaces, punctuation attached to the word before it."""
    out = ""
    for token in tokens:
        glued = token in ".,;:!?)]}" or (out.endswith(("(", "[", "{")))
        out += token if (glued or not out) else " " + token
    return out


NOT_LIBRARY_PROSE = ("test", "idlelib", "lib2to3", "site-packages", "tkinter", "turtledemo", "ensurepip", "config-")


def _standard_library_tokens() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(stdlib.rglob("*.py")):
        if any(part.startswith(NOT_LIBRARY_PROSE) for part in path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                if docstring:
                    texts.append(docstring)
    return [token for text in texts for token in tokenize(text)]


CORPUS_VERSION = 1


@dataclass(frozen=True)
class CorpusSource:
    """The corpus's cache key: the standard library it is read from is that of this Python version."""

    python: str


def _parse_corpus(source: CorpusSource) -> Result:
    tokens = _standard_library_tokens()
    words = [word for word, _ in Counter(tokens).most_common()]
    index = {word: i for i, word in enumerate(words)}
    return Result(metrics={"config": dataclasses.asdict(source), "words": words},
                  arrays={"ids": torch.tensor([index[token] for token in tokens], dtype=torch.int32)})


@lru_cache(maxsize=1)
def parsed_corpus() -> tuple[tuple[str, ...], np.ndarray]:
    """Every distinct token, the commonest first (ties in order of first appearance), and the corpus as
    indices into them. Parsing the standard library takes seconds, so the result cache keeps it."""
    source = CorpusSource(platform.python_version())
    result = cached(f"{NAME}-corpus", CORPUS_VERSION, source, lambda: _parse_corpus(source))
    return tuple(result.metrics["words"]), result.arrays["ids"].numpy().astype(np.int64)


def corpus_tokens() -> tuple[str, ...]:
    """The docstrings of Python's standard library (its tests, IDLE and a few tool directories left
    out) as one token stream, in a fixed order: about a quarter of a million words of technical prose
    that every Python installation carries."""
    words, ids = parsed_corpus()
    return tuple(words[i] for i in ids)


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.words)

    def encode(self, tokens) -> np.ndarray:
        index = {word: i for i, word in enumerate(self.words)}
        return np.array([index.get(token, 0) for token in tokens], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in ids]


def vocabulary(size: int) -> Vocabulary:
    """The `size` - 1 most frequent tokens and <unk> (id 0)."""
    return Vocabulary((UNKNOWN, *parsed_corpus()[0][:size - 1]))


DEAL = ("generator", "attack", "judge", "generator", "attack", "judge", "prompts")


def split_ids(size: int) -> dict[str, np.ndarray]:
    """The encoded stream in blocks of 2,000 tokens dealt in turn to four parts that share no text: the
    generator's, the attacker's (for its proposers and its oracle), the judge's, and held-out prompts."""
    ranks = parsed_corpus()[1]
    ids = np.where(ranks < size - 1, ranks + 1, 0)  # vocabulary(size).encode(corpus_tokens()), without the strings
    blocks = np.array_split(ids, max(1, len(ids) // 2000))
    parts = {name: [] for name in dict.fromkeys(DEAL)}
    for i, block in enumerate(blocks):
        parts[DEAL[i % len(DEAL)]].append(block)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}

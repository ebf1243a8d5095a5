"""What the classifier sees of a complaint, as plain functions over spaCy tokens.

Nothing here depends on scikit-learn: prediction runs on these functions and saved arrays, and training wraps the
same functions in scikit-learn estimators (``fit.py``), so both paths count exactly the same features.

The classifier sees three views of a complaint: word n-grams from spaCy's tokens, character n-grams (which
carry most of the signal in Chinese and survive typos in English), and counts of hand-built cue phrases per
category, severity and signal. The cue counts are the part that generalises beyond the corpus: they encode
what words people use for each kind of problem, not what happened to be written in a few thousand examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from scipy import sparse
from spacy.tokens import Doc

from complaint_triage.triage.lexicon import cue_lexicon, signal_lexicon
from complaint_triage.triage.nlp import get_nlp

MAX_CUE_NGRAM = 5


class TokenizedText(NamedTuple):
    text: str
    tokens: tuple[str, ...]


def tokenize(texts: list[str], lang: str) -> list[TokenizedText]:
    return [from_doc(doc, text) for doc, text in zip(make_docs(texts, lang), texts)]


def make_docs(texts: list[str], lang: str) -> list[Doc]:
    """One tokenization per text, shared by the classifier and the signal matcher."""
    return list(get_nlp(lang).tokenizer.pipe(texts, batch_size=256))


def from_doc(doc: Doc, text: str | None = None) -> TokenizedText:
    """``text`` is the string the doc was made from, when the caller has it (``doc.text`` is rebuilt from every
    token)."""
    return TokenizedText(doc.text if text is None else text, tuple(t.lower_ for t in doc if not t.is_space))


def word_ngrams(doc: TokenizedText) -> list[str]:
    toks = [t for t in doc.tokens if any(ch.isalnum() for ch in t)]
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


def raw_text(doc: TokenizedText) -> str:
    return doc.text.lower()


_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside word boundaries, padded with one space each side: scikit-learn's ``char_wb``
    analyzer, written out so prediction does not reach into its private methods (a test holds them equal)."""
    grams: list[str] = []
    for w in _WHITE_SPACES.sub(" ", text).split():
        w = f" {w} "
        size = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(w[offset:offset + n])
            while offset + n < size:
                offset += 1
                grams.append(w[offset:offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def cue_groups(lang: str) -> list[tuple[str, list[str]]]:
    """The cue and signal lexicon groups whose hits are counted, in feature order."""
    groups: list[tuple[str, list[str]]] = []
    for kind, labels in cue_lexicon().items():
        for label, entry in labels.items():
            groups.append((f"{kind}:{label}", entry[lang]))
    for name, entry in signal_lexicon().items():
        if name != "negation":
            groups.append((f"signal:{name}", entry[lang]))
    return groups


def build_cue_index(lang: str) -> tuple[list[str], dict[str, list[int]]]:
    """Feature names and, for each cue phrase as joined lower-cased tokens, the features it counts for."""
    nlp = get_nlp(lang)
    joiner = " " if lang == "en" else ""
    groups = cue_groups(lang)
    index: dict[str, list[int]] = {}
    for i, (_, phrases) in enumerate(groups):
        for phrase in phrases:
            key = joiner.join(t.lower_ for t in nlp.tokenizer(phrase) if not t.is_space)
            index.setdefault(key, []).append(i)
    return [g for g, _ in groups], {k: sorted(set(v)) for k, v in index.items()}


class CueCounter:
    """Counts cue-phrase hits per group (log-scaled) from a cue index; shared by training and prediction."""

    def __init__(self, index: dict[str, list[int]], n_features: int, joiner: str):
        self.index, self.n_features, self.joiner = index, n_features, joiner
        # Every leading substring of every cue key: a window that begins no cue cannot grow into one.
        self.prefixes = frozenset(key[:j] for key in index for j in range(1, len(key) + 1))

    def transform(self, docs: Iterable[TokenizedText]) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        prefixes, index, joiner = self.prefixes, self.index, self.joiner
        r = -1
        for r, doc in enumerate(docs):
            counts: dict[int, int] = {}
            toks = doc.tokens
            n = len(toks)
            for i in range(n):
                key = toks[i]
                for k in range(1, min(MAX_CUE_NGRAM, n - i) + 1):
                    if k > 1:
                        key = key + joiner + toks[i + k - 1]
                    if key not in prefixes:
                        break
                    for c in index.get(key, ()):
                        counts[c] = counts.get(c, 0) + 1
            for c, v in counts.items():
                rows.append(r)
                cols.append(c)
                vals.append(np.log1p(v))
        return sparse.csr_matrix((vals, (rows, cols)), shape=(r + 1, self.n_features))

"""scikit-learn transformers over spaCy tokens.

The classifier sees three views of a complaint: word n-grams from spaCy's tokens, character n-grams (which
carry most of the signal in Chinese and survive typos in English), and counts of hand-built cue phrases per
category, severity and signal. The cue counts are the part that generalises beyond the corpus: they encode
what words people use for each kind of problem, not what happened to be written in a few thousand examples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.utils.validation import check_is_fitted
from spacy.tokens import Doc

from triage.lexicon import cue_lexicon, signal_lexicon
from triage.nlp import get_nlp

MAX_CUE_NGRAM = 5


class TokenizedText(NamedTuple):
    text: str
    tokens: tuple[str, ...]


def tokenize(texts: list[str], lang: str) -> list[TokenizedText]:
    return [from_doc(doc) for doc in make_docs(texts, lang)]


def make_docs(texts: list[str], lang: str) -> list[Doc]:
    """One tokenization per text, shared by the classifier and the signal matcher."""
    return list(get_nlp(lang).tokenizer.pipe(texts, batch_size=256))


def from_doc(doc: Doc) -> TokenizedText:
    return TokenizedText(doc.text, tuple(t.lower_ for t in doc if not t.is_space))


def word_ngrams(doc: TokenizedText) -> list[str]:
    toks = [t for t in doc.tokens if any(ch.isalnum() for ch in t)]
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


def raw_text(doc: TokenizedText) -> str:
    return doc.text.lower()


class LexiconCues(BaseEstimator, TransformerMixin):
    """Counts cue-phrase hits per label of the cue and signal lexicons (log-scaled)."""

    def __init__(self, lang: str = "en"):
        self.lang = lang

    def fit(self, X, y=None):
        nlp = get_nlp(self.lang)
        joiner = " " if self.lang == "en" else ""
        groups: list[tuple[str, list[str]]] = []
        for kind, labels in cue_lexicon().items():
            for label, entry in labels.items():
                groups.append((f"{kind}:{label}", entry[self.lang]))
        for name, entry in signal_lexicon().items():
            if name != "negation":
                groups.append((f"signal:{name}", entry[self.lang]))
        self.feature_names_ = [g for g, _ in groups]
        index: dict[str, list[int]] = {}
        for i, (_, phrases) in enumerate(groups):
            for phrase in phrases:
                key = joiner.join(t.lower_ for t in nlp.tokenizer(phrase) if not t.is_space)
                index.setdefault(key, []).append(i)
        self.index_ = {k: sorted(set(v)) for k, v in index.items()}
        self.joiner_ = joiner
        return self

    def transform(self, X):
        check_is_fitted(self, "index_")
        rows, cols, vals = [], [], []
        prefixes = self._prefixes()
        joiner = self.joiner_
        for r, doc in enumerate(X):
            counts: dict[int, int] = {}
            toks = doc.tokens
            n = len(toks)
            for i in range(n):
                key = toks[i]
                for k in range(1, min(MAX_CUE_NGRAM, n - i) + 1):
                    if k > 1:
                        key = key + joiner + toks[i + k - 1]
                    # A window that begins no cue cannot grow into one: most tokens stop here.
                    if key not in prefixes:
                        break
                    for c in self.index_.get(key, ()):
                        counts[c] = counts.get(c, 0) + 1
            for c, v in counts.items():
                rows.append(r)
                cols.append(c)
                vals.append(np.log1p(v))
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(X), len(self.feature_names_)))

    def _prefixes(self) -> frozenset[str]:
        """Every leading substring of every cue key; derived, so models saved before it existed still load."""
        cached = self.__dict__.get("_prefixes_cache")
        if cached is None:
            cached = frozenset(key[:j] for key in self.index_ for j in range(1, len(key) + 1))
            self.__dict__["_prefixes_cache"] = cached
        return cached

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_prefixes_cache", None)
        return state

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names_, dtype=object)


def build_featurizer(lang: str, cue_weight: float = 1.0) -> FeatureUnion:
    char_range = (1, 3) if lang == "zh" else (2, 5)
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer=word_ngrams, min_df=2, sublinear_tf=True, max_features=60_000)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", preprocessor=raw_text, ngram_range=char_range, min_df=2,
                    sublinear_tf=True, max_features=120_000,
                ),
            ),
            ("cues", LexiconCues(lang)),
        ],
        transformer_weights={"words": 1.0, "chars": 1.0, "cues": cue_weight},
    )

"""The category and severity classifiers, one pair per language, and their verified persistence.

Both targets share one fitted featurizer per language, so a text is tokenized and vectorized once and then
scored by two calibrated linear models. The artifact is a joblib file beside a JSON model card holding its
sha256; loading refuses a file whose hash does not match, because joblib runs code from what it unpickles.
"""

from __future__ import annotations

import hashlib
from collections import Counter
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from triage.features import TokenizedText, build_featurizer, tokenize
from triage.labels import CATEGORIES, SEVERITIES

ARTIFACT_NAME = "triage.joblib"
CARD_NAME = "model_card.json"


class ModelIntegrityError(RuntimeError):
    """The artifact on disk is not the one its model card describes."""


@dataclass
class Hyperparams:
    cue_weight: float = 1.5
    C_category: float = 0.5
    C_severity: float = 0.5
    seed: int = 13


def _classifier(C: float, seed: int) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(
        LinearSVC(C=C, class_weight="balanced", random_state=seed), method="sigmoid", cv=3
    )


@dataclass
class LanguageModel:
    lang: str
    featurizer: FeatureUnion
    category: CalibratedClassifierCV
    severity: CalibratedClassifierCV

    @classmethod
    def fit(cls, lang: str, texts: list[str], categories: list[str], severities: list[str], hp: Hyperparams):
        docs = tokenize(texts, lang)
        featurizer = build_featurizer(lang, hp.cue_weight)
        X = featurizer.fit_transform(docs)
        cat = _classifier(hp.C_category, hp.seed).fit(X, categories)
        sev = _classifier(hp.C_severity, hp.seed).fit(X, severities)
        return cls(lang, featurizer, cat, sev)

    def predict_proba(self, docs: list[TokenizedText]) -> tuple[np.ndarray, np.ndarray]:
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = (_FastUnion(self.featurizer), CalibratedLinear(self.category),
                                             CalibratedLinear(self.severity))
        union, cat, sev = fast
        X = union.transform(docs)
        return cat.predict_proba(X), sev.predict_proba(X)

    def sklearn_predict_proba(self, docs: list[TokenizedText]) -> tuple[np.ndarray, np.ndarray]:
        """The reference path, through scikit-learn's own estimators; tests hold the fast path to it."""
        X = self.featurizer.transform(docs)
        return self.category.predict_proba(X), self.severity.predict_proba(X)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_fast"}


class _FastUnion:
    """FeatureUnion.transform without scikit-learn's per-call dispatch and input validation, which cost more
    than the features of a short complaint. TF-IDF parts use the fitted vocabulary and idf directly; the result
    equals scikit-learn's (tests hold it to that)."""

    def __init__(self, union: FeatureUnion):
        weights = union.transformer_weights or {}
        self.parts = [(t, weights.get(name, 1.0), _term_counter(t) if isinstance(t, TfidfVectorizer) else None)
                      for name, t in union.transformer_list]

    def transform(self, docs: list[TokenizedText]) -> sparse.csr_matrix:
        blocks = []
        for t, w, count in self.parts:
            b = _tfidf(t, count, docs) if count is not None else t.transform(docs)
            blocks.append(b * w if w != 1.0 else b)
        return sparse.hstack(blocks, format="csr")


def _term_counter(vec: TfidfVectorizer):
    return _WordCachedCharCounts(vec) if vec.analyzer == "char_wb" else _TermCounts(vec)


class _TermCounts:
    def __init__(self, vec: TfidfVectorizer):
        self.analyze, self.vocab = vec.build_analyzer(), vec.vocabulary_

    def __call__(self, doc: TokenizedText) -> tuple[list[int], list[int]]:
        indices, values = [], []
        for feature, n in Counter(self.analyze(doc)).items():
            j = self.vocab.get(feature)
            if j is not None:
                indices.append(j)
                values.append(n)
        return indices, values


class _WordCachedCharCounts:
    """char_wb n-grams never cross a space, so a text's counts are the sum of its words' counts, and words
    repeat (Zipf): each word's vocabulary ids are computed once, with scikit-learn's own n-gram function, and
    kept. English complaints run to hundreds of words and this is where most of their features come from."""

    MAX_WORDS = 200_000
    # Chinese has no spaces: its "words" are whole clauses that seldom repeat, so long ones are not kept.
    MAX_CACHED_LEN = 24

    def __init__(self, vec: TfidfVectorizer):
        self.preprocess, self.vocab = vec.build_preprocessor(), vec.vocabulary_
        self.ngrams = vec._char_wb_ngrams
        self.cache: dict[str, np.ndarray] = {}

    def _ids(self, word: str) -> np.ndarray:
        ids = self.cache.get(word)
        if ids is None:
            vocab = self.vocab
            ids = np.fromiter((vocab[g] for g in self.ngrams(word) if g in vocab), dtype=np.int32)
            if len(word) <= self.MAX_CACHED_LEN:
                if len(self.cache) >= self.MAX_WORDS:
                    self.cache.clear()
                self.cache[word] = ids
        return ids

    def __call__(self, doc: TokenizedText) -> tuple[np.ndarray, np.ndarray]:
        words = self.preprocess(doc).split()
        if not words:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        ids = np.concatenate([self._ids(w) for w in words])
        return np.unique(ids, return_counts=True)


def _tfidf(vec: TfidfVectorizer, count, docs: list[TokenizedText]) -> sparse.csr_matrix:
    index_parts, value_parts = [], []
    indptr = [0]
    for doc in docs:
        indices, values = count(doc)
        index_parts.append(np.asarray(indices, dtype=np.int32))
        value_parts.append(np.asarray(values, dtype=np.float64))
        indptr.append(indptr[-1] + len(indices))
    X = sparse.csr_matrix((np.concatenate(value_parts) if docs else np.empty(0),
                           np.concatenate(index_parts) if docs else np.empty(0, dtype=np.int32), indptr),
                          shape=(len(docs), len(vec.vocabulary_)))
    X.sort_indices()
    if vec.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1
    if vec.use_idf:
        X.data *= vec.idf_[X.indices]
    if vec.norm == "l2":
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        X.data /= np.repeat(norms, np.diff(X.indptr))
    elif vec.norm is not None:
        raise ValueError(f"unsupported norm {vec.norm!r}")
    return X


class CalibratedLinear:
    """The prediction of a fitted ``CalibratedClassifierCV(LinearSVC, method="sigmoid")`` as plain array maths.

    scikit-learn validates its input in every one of the ~30 small estimators inside (one LinearSVC and one
    sigmoid per class per fold); for one complaint that costs several milliseconds, the product itself
    microseconds. All folds' weights are stacked so one sparse product scores every fold at once; the sigmoid,
    the per-fold normalisation (uniform when every class gets 0) and the mean over folds follow
    ``sklearn.calibration._CalibratedClassifier.predict_proba`` for more than two classes.
    """

    def __init__(self, clf: CalibratedClassifierCV):
        self.classes_ = clf.classes_
        n = len(self.classes_)
        if n < 3:
            raise ValueError("CalibratedLinear handles three or more classes")
        coefs, intercepts, a, b, columns = [], [], [], [], []
        for fold, cc in enumerate(clf.calibrated_classifiers_):
            if cc.method != "sigmoid":
                raise ValueError(f"unsupported calibration {cc.method!r}")
            est = cc.estimator
            col = np.searchsorted(self.classes_, est.classes_)
            coefs.append(est.coef_)
            intercepts.append(est.intercept_)
            a.extend(c.a_ for c in cc.calibrators)
            b.extend(c.b_ for c in cc.calibrators)
            columns.extend(fold * n + col)
        self.folds = len(clf.calibrated_classifiers_)
        self.W = np.ascontiguousarray(np.vstack(coefs).T)
        self.intercept = np.concatenate(intercepts)
        self.a, self.b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        self.columns = np.asarray(columns)

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        n = len(self.classes_)
        scores = np.asarray(X @ self.W) + self.intercept
        p = np.zeros((X.shape[0], self.folds * n))
        p[:, self.columns] = expit(-(self.a * scores + self.b))
        p = p.reshape(X.shape[0], self.folds, n)
        total = p.sum(axis=2, keepdims=True)
        p = np.divide(p, total, out=np.full_like(p, 1 / n), where=total != 0)
        p[(1.0 < p) & (p <= 1.0 + 1e-5)] = 1.0
        return p.mean(axis=1)


@dataclass
class TriageModel:
    version: str
    languages: dict[str, LanguageModel]
    meta: dict = field(default_factory=dict)

    def predict(self, texts: list[str], lang: str) -> list[tuple[str, float, str, float]]:
        """(category, confidence, severity, confidence) per text, all in one language."""
        return self.predict_tokenized(tokenize(texts, lang), lang)

    def predict_tokenized(self, docs: list[TokenizedText], lang: str) -> list[tuple[str, float, str, float]]:
        if not docs:
            return []
        lm = self.languages[lang]
        cat_p, sev_p = lm.predict_proba(docs)
        cat_labels, sev_labels = lm.category.classes_, lm.severity.classes_
        ci, si = cat_p.argmax(1), sev_p.argmax(1)
        return [
            (str(cat_labels[c]), float(cat_p[i, c]), str(sev_labels[s]), float(sev_p[i, s]))
            for i, (c, s) in enumerate(zip(ci, si))
        ]

    def save(self, directory: Path, card: dict) -> dict:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / ARTIFACT_NAME
        joblib.dump({"version": self.version, "languages": self.languages, "meta": self.meta}, path, compress=3)
        card = {**card, "version": self.version, "artifact": ARTIFACT_NAME,
                "artifact_sha256": sha256_file(path), "artifact_bytes": path.stat().st_size}
        (directory / CARD_NAME).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return card


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(directory: Path) -> dict:
    card_path = directory / CARD_NAME
    if not card_path.is_file():
        raise ModelIntegrityError(f"no model card at {card_path}; train a model with `complaint-triage train`")
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelIntegrityError(f"model card {card_path} is not valid JSON: {e}") from e


def load_model(directory: Path) -> TriageModel:
    directory = Path(directory)
    card = read_card(directory)
    path = directory / card.get("artifact", ARTIFACT_NAME)
    if not path.is_file():
        raise ModelIntegrityError(f"model artifact {path} is missing")
    actual = sha256_file(path)
    if actual != card.get("artifact_sha256"):
        raise ModelIntegrityError(
            f"model artifact {path} has sha256 {actual[:12]}…, but {directory / CARD_NAME} expects "
            f"{str(card.get('artifact_sha256'))[:12]}…; refusing to load an unverified file"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            blob = joblib.load(path)
        except InconsistentVersionWarning as e:
            raise ModelIntegrityError(f"{path} was trained with another scikit-learn version: {e}") from e
    model = TriageModel(version=blob["version"], languages=blob["languages"], meta=blob.get("meta", {}))
    for lm in model.languages.values():
        if set(lm.category.classes_) - set(CATEGORIES) or set(lm.severity.classes_) - set(SEVERITIES):
            raise ModelIntegrityError(f"{path} predicts labels outside the contract")
    return model

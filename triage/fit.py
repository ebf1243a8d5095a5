"""Training with scikit-learn, and export of what it learned to plain arrays.

scikit-learn is the training and reference path: ``LanguageModel`` holds fitted estimators, ``to_arrays``
reads their learned numbers (vocabularies, idf, weights, sigmoid calibration) into an ``ArrayLanguageModel``,
which is all prediction ever loads. Tests hold the two paths equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from complaint_triage.triage.features import (
    CueCounter,
    TokenizedText,
    build_cue_index,
    raw_text,
    tokenize,
    word_ngrams,
)
from complaint_triage.triage.model import (
    ArrayLanguageModel,
    CharPart,
    CuePart,
    Hyperparams,
    LinearTarget,
    SignalHeads,
    WordPart,
)


class LexiconCues(BaseEstimator, TransformerMixin):
    """Counts cue-phrase hits per label of the cue and signal lexicons (log-scaled)."""

    def __init__(self, lang: str = "en"):
        self.lang = lang

    def fit(self, X, y=None):
        self.feature_names_, self.index_ = build_cue_index(self.lang)
        self.joiner_ = " " if self.lang == "en" else ""
        return self

    def transform(self, X):
        check_is_fitted(self, "index_")
        return CueCounter(self.index_, len(self.feature_names_), self.joiner_).transform(X)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names_, dtype=object)


def char_range(lang: str) -> tuple[int, int]:
    return (1, 3) if lang == "zh" else (2, 5)


def build_featurizer(lang: str, cue_weight: float = 1.0) -> FeatureUnion:
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer=word_ngrams, min_df=2, sublinear_tf=True, max_features=60_000)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", preprocessor=raw_text, ngram_range=char_range(lang), min_df=2,
                    sublinear_tf=True, max_features=120_000,
                ),
            ),
            ("cues", LexiconCues(lang)),
        ],
        transformer_weights={"words": 1.0, "chars": 1.0, "cues": cue_weight},
    )


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
    def fit(cls, lang: str, texts: list[str], categories: list[str], severities: list[str], hp: Hyperparams,
            sample_weight: list[float] | None = None):
        docs = tokenize(texts, lang)
        featurizer = build_featurizer(lang, hp.cue_weight)
        X = featurizer.fit_transform(docs)
        cat = _classifier(hp.C_category, hp.seed).fit(X, categories, sample_weight=sample_weight)
        sev = _classifier(hp.C_severity, hp.seed).fit(X, severities, sample_weight=sample_weight)
        return cls(lang, featurizer, cat, sev)

    def sklearn_predict_proba(self, docs: list[TokenizedText]) -> tuple[np.ndarray, np.ndarray]:
        """The reference path, through scikit-learn's own estimators."""
        X = self.featurizer.transform(docs)
        return self.category.predict_proba(X), self.severity.predict_proba(X)

    def to_arrays(self) -> ArrayLanguageModel:
        parts = dict(self.featurizer.transformer_list)
        weights = self.featurizer.transformer_weights or {}
        words, chars, cues = parts["words"], parts["chars"], parts["cues"]
        for vec in (words, chars):
            if vec.norm != "l2" or not vec.sublinear_tf or not vec.use_idf:
                raise ValueError("the array model expects sublinear, idf-weighted, l2-normalised TF-IDF")
        return ArrayLanguageModel(
            lang=self.lang,
            words=WordPart(_vocabulary(words), np.asarray(words.idf_, dtype=np.float64), weights.get("words", 1.0)),
            chars=CharPart(_vocabulary(chars), np.asarray(chars.idf_, dtype=np.float64), weights.get("chars", 1.0),
                           tuple(chars.ngram_range)),
            cues=CuePart(list(cues.feature_names_), cues.index_, cues.joiner_, weights.get("cues", 1.0)),
            category=_linear_target(self.category),
            severity=_linear_target(self.severity),
        )


def _vocabulary(vec: TfidfVectorizer) -> list[str]:
    terms = [""] * len(vec.vocabulary_)
    for term, j in vec.vocabulary_.items():
        terms[j] = term
    return terms


def _linear_target(clf: CalibratedClassifierCV) -> LinearTarget:
    """All folds' weights stacked, so one sparse product scores every fold at once (see LinearTarget)."""
    classes = np.asarray(clf.classes_)
    n = len(classes)
    if n < 3:
        raise ValueError("the array model handles three or more classes")
    coefs, intercepts, a, b, columns = [], [], [], [], []
    for fold, cc in enumerate(clf.calibrated_classifiers_):
        if cc.method != "sigmoid":
            raise ValueError(f"unsupported calibration {cc.method!r}")
        est = cc.estimator
        col = np.searchsorted(classes, est.classes_)
        coefs.append(est.coef_)
        intercepts.append(est.intercept_)
        a.extend(c.a_ for c in cc.calibrators)
        b.extend(c.b_ for c in cc.calibrators)
        columns.extend(fold * n + col)
    return LinearTarget(
        classes=[str(c) for c in classes],
        folds=len(clf.calibrated_classifiers_),
        W=np.ascontiguousarray(np.vstack(coefs).T, dtype=np.float64),
        intercept=np.concatenate(intercepts).astype(np.float64),
        a=np.asarray(a, dtype=np.float64),
        b=np.asarray(b, dtype=np.float64),
        columns=np.asarray(columns, dtype=np.int64),
    )


# ---------------------------------------------------------------- signal heads
SIGNAL_C = 1.0
# A classifier alone may raise a flag on at most this share of texts without it (out of fold). Danger, the
# flag never to miss, gets a larger budget: the authored training negatives are harder than most real text.
MAX_FALSE_ALARMS = 0.03
# Chosen on the lexicon-dev half of the signal test set (odd ids) among 0.03 / 0.05 / 0.08: README, "Signals".
DANGER_MAX_FALSE_ALARMS = 0.05
_GRID = np.round(np.arange(0.30, 0.96, 0.05), 2)
_CONFIRM_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def fit_signal_heads(lm: ArrayLanguageModel, texts: list[str], labels: list[dict[str, bool]],
                     cue_flags: list[dict[str, bool]], flags: tuple[str, ...], seed: int) -> SignalHeads:
    """A logistic classifier per flag over the language model's features. Its threshold is chosen on 5-fold
    out-of-fold probabilities of the authored signal items, for the way it is used: a flag counts when the cue
    lexicon finds it and the classifier does not contradict it, or the classifier alone is sure enough."""
    X = lm.features(tokenize(texts, lm.lang))
    W, b, thresholds, confirm = [], [], [], []
    for flag in flags:
        y = np.array([lab[flag] for lab in labels])
        cues = np.array([c[flag] for c in cue_flags])
        clf = LogisticRegression(C=SIGNAL_C, class_weight="balanced", max_iter=3000).fit(X, y)
        W.append(clf.coef_[0])
        b.append(clf.intercept_[0])
        oof = np.zeros(len(y))
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        for tr, te in folds.split(X, y):
            oof[te] = LogisticRegression(C=SIGNAL_C, class_weight="balanced", max_iter=3000).fit(
                X[tr], y[tr]).predict_proba(X[te])[:, 1]
        c, t = _choose_thresholds(y, cues, oof, recall_first=flag == "danger")
        confirm.append(c)
        thresholds.append(t)
    return SignalHeads(flags=list(flags), thresholds=thresholds, confirm=confirm,
                       W=np.ascontiguousarray(np.vstack(W).T, dtype=np.float64), intercept=np.asarray(b, dtype=np.float64))


def _choose_thresholds(y: np.ndarray, cues: np.ndarray, p: np.ndarray, recall_first: bool) -> tuple[float, float]:
    """(confirm, alone): a cue counts when the classifier gives its flag at least ``confirm``; the classifier
    raises the flag by itself at ``alone``. Among pairs whose out-of-fold false-alarm rate stays within
    MAX_FALSE_ALARMS, the best F1 (danger: the best recall, then F1): never cry wolf, then find all we can."""
    scored = []
    negatives = max((~y).sum(), 1)
    for confirm in _CONFIRM_GRID:
        for alone in _GRID:
            pred = (cues & (p >= confirm)) | (p >= alone)
            tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
            f1 = 2 * tp / max(2 * tp + fp + fn, 1)
            scored.append((float(confirm), float(alone), fp / negatives, tp / max(tp + fn, 1), f1))
    budget = DANGER_MAX_FALSE_ALARMS if recall_first else MAX_FALSE_ALARMS
    allowed = [s for s in scored if s[2] <= budget] or [min(scored, key=lambda s: s[2])]
    key = (lambda s: (s[3], s[4], -s[0])) if recall_first else (lambda s: (s[4], -s[0], s[1]))
    best = max(allowed, key=key)
    return best[0], best[1]

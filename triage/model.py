"""The category and severity classifiers as data: arrays and JSON, loaded without unpickling anything.

A model directory holds ``model.json`` (vocabularies, cue index, labels, settings), ``model.npz`` (idf vectors,
weights, calibration) and ``model_card.json`` (version, corpus hash, scores and the sha256 of both files).
Nothing in it names a Python class, so moving code cannot break a saved model, and prediction needs neither
scikit-learn nor its private attributes; ``fit.py`` trains with scikit-learn and exports to this form.

Per language one featurizer feeds two calibrated linear models, so a text is tokenized and vectorized once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.special import expit

from complaint_triage.contract import CATEGORIES, SEVERITIES
from complaint_triage.triage.calibration import apply_temperature
from complaint_triage.triage.features import CueCounter, TokenizedText, char_wb_ngrams, tokenize, word_ngrams

FORMAT = 1
JSON_NAME = "model.json"
ARRAYS_NAME = "model.npz"
CARD_NAME = "model_card.json"
ARTIFACTS = (JSON_NAME, ARRAYS_NAME)


class ModelIntegrityError(RuntimeError):
    """The model directory is missing, damaged or not the one its model card describes."""


@dataclass
class Hyperparams:
    cue_weight: float = 1.5
    C_category: float = 0.5
    C_severity: float = 0.5
    seed: int = 13


def _l2_tfidf(rows: list[tuple[np.ndarray, np.ndarray]], idf: np.ndarray, n_features: int) -> sparse.csr_matrix:
    """Sublinear tf × idf, l2-normalised per row: what TfidfVectorizer(sublinear_tf=True) computes."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    for i, (ix, _) in enumerate(rows):
        indptr[i + 1] = indptr[i] + len(ix)
    indices = np.concatenate([ix for ix, _ in rows]) if rows else np.empty(0, dtype=np.int32)
    data = np.concatenate([v for _, v in rows]) if rows else np.empty(0)
    X = sparse.csr_matrix((data.astype(np.float64), indices, indptr), shape=(len(rows), n_features))
    X.sort_indices()
    np.log(X.data, X.data)
    X.data += 1
    X.data *= idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X.data /= np.repeat(norms, np.diff(X.indptr))
    return X


@dataclass
class WordPart:
    vocabulary: list[str]
    idf: np.ndarray
    weight: float

    def __post_init__(self):
        self.ids = {t: j for j, t in enumerate(self.vocabulary)}

    def transform(self, docs: list[TokenizedText]) -> sparse.csr_matrix:
        rows = []
        for doc in docs:
            ix, vals = [], []
            for term, n in Counter(word_ngrams(doc)).items():
                j = self.ids.get(term)
                if j is not None:
                    ix.append(j)
                    vals.append(n)
            rows.append((np.asarray(ix, dtype=np.int32), np.asarray(vals, dtype=np.float64)))
        return _l2_tfidf(rows, self.idf, len(self.vocabulary))


@dataclass
class CharPart:
    """char_wb n-grams never cross a space, so a text's counts are the sum of its words' counts, and words
    repeat (Zipf): each word's vocabulary ids are computed once and kept. English complaints run to hundreds of
    words and this is where most of their features come from."""

    vocabulary: list[str]
    idf: np.ndarray
    weight: float
    ngram_range: tuple[int, int]
    MAX_WORDS = 200_000
    # Chinese has no spaces: its "words" are whole clauses that seldom repeat, so long ones are not kept.
    MAX_CACHED_LEN = 24

    def __post_init__(self):
        self.ids = {t: j for j, t in enumerate(self.vocabulary)}
        self.cache: dict[str, np.ndarray] = {}

    def _word_ids(self, word: str) -> np.ndarray:
        ids = self.cache.get(word)
        if ids is None:
            vocab = self.ids
            lo, hi = self.ngram_range
            ids = np.fromiter((vocab[g] for g in char_wb_ngrams(word, lo, hi) if g in vocab), dtype=np.int32)
            if len(word) <= self.MAX_CACHED_LEN:
                if len(self.cache) >= self.MAX_WORDS:
                    self.cache.clear()
                self.cache[word] = ids
        return ids

    def transform(self, docs: list[TokenizedText]) -> sparse.csr_matrix:
        rows = []
        for doc in docs:
            words = doc.text.lower().split()
            if not words:
                rows.append((np.empty(0, dtype=np.int32), np.empty(0)))
                continue
            ix, counts = np.unique(np.concatenate([self._word_ids(w) for w in words]), return_counts=True)
            rows.append((ix.astype(np.int32), counts.astype(np.float64)))
        return _l2_tfidf(rows, self.idf, len(self.vocabulary))


@dataclass
class CuePart:
    features: list[str]
    index: dict[str, list[int]]
    joiner: str
    weight: float

    def __post_init__(self):
        self.counter = CueCounter(self.index, len(self.features), self.joiner)

    def transform(self, docs: list[TokenizedText]) -> sparse.csr_matrix:
        return self.counter.transform(docs)


@dataclass
class LinearTarget:
    """A calibrated linear SVM (scikit-learn's ``CalibratedClassifierCV(LinearSVC, method="sigmoid")``) as
    arrays: every fold's weights stacked in ``W`` so one sparse product scores all folds; the sigmoid, the
    per-fold normalisation (uniform when every class gets 0) and the mean over folds follow scikit-learn's
    ``_CalibratedClassifier.predict_proba`` for more than two classes."""

    classes: list[str]
    folds: int
    W: np.ndarray
    intercept: np.ndarray
    a: np.ndarray
    b: np.ndarray
    columns: np.ndarray

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        n = len(self.classes)
        scores = np.asarray(X @ self.W) + self.intercept
        p = np.zeros((X.shape[0], self.folds * n))
        p[:, self.columns] = expit(-(self.a * scores + self.b))
        p = p.reshape(X.shape[0], self.folds, n)
        total = p.sum(axis=2, keepdims=True)
        p = np.divide(p, total, out=np.full_like(p, 1 / n), where=total != 0)
        p[(1.0 < p) & (p <= 1.0 + 1e-5)] = 1.0
        return p.mean(axis=1)

    ARRAYS = ("W", "intercept", "a", "b", "columns")


@dataclass
class SignalHeads:
    """One logistic classifier per signal flag over the same features as the category: the probability that
    the text carries the flag, read beside the cue lexicon (``signals.py``). A flag counts from the classifier
    alone when its probability reaches the flag's threshold, chosen at training on out-of-fold predictions."""

    flags: list[str]
    thresholds: list[float]
    W: np.ndarray
    intercept: np.ndarray
    # A cue's flag counts only when the classifier gives it at least this (kills "I'm burning with anger").
    confirm: list[float] = field(default_factory=list)

    ARRAYS = ("W", "intercept")

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        return expit(np.asarray(X @ self.W) + self.intercept)


@dataclass
class Scores:
    """Everything the model says about one text: full probability vectors, so callers can read alternatives."""

    category: dict[str, float]
    severity: dict[str, float]
    signals: dict[str, float]
    signal_thresholds: dict[str, float]
    signal_confirm: dict[str, float] = field(default_factory=dict)

    def top(self, target: str) -> tuple[str, float]:
        probs = getattr(self, target)
        label = max(probs, key=probs.__getitem__)
        return label, probs[label]


@dataclass
class ArrayLanguageModel:
    lang: str
    words: WordPart
    chars: CharPart
    cues: CuePart
    category: LinearTarget
    severity: LinearTarget
    signals: SignalHeads | None = None
    temperature: dict[str, float] = field(default_factory=dict)

    def calibrated(self, target: str, p: np.ndarray) -> np.ndarray:
        """Temperature scaling of a target's probabilities (T > 1 softens overconfident ones)."""
        t = self.temperature.get(target, 1.0)
        return p if t == 1.0 else apply_temperature(p, t)

    def score(self, docs: list[TokenizedText]) -> list[Scores]:
        X = self.features(docs)
        cat = self.calibrated("category", self.category.predict_proba(X))
        sev = self.calibrated("severity", self.severity.predict_proba(X))
        sig = self.signals.predict_proba(X) if self.signals is not None else None
        thresholds = dict(zip(self.signals.flags, self.signals.thresholds)) if self.signals is not None else {}
        confirm = dict(zip(self.signals.flags, self.signals.confirm)) if self.signals is not None else {}
        out = []
        for i in range(len(docs)):
            out.append(Scores(
                category={c: float(v) for c, v in zip(self.category.classes, cat[i])},
                severity={c: float(v) for c, v in zip(self.severity.classes, sev[i])},
                signals=({f: float(v) for f, v in zip(self.signals.flags, sig[i])} if sig is not None else {}),
                signal_thresholds=thresholds,
                signal_confirm=confirm,
            ))
        return out

    def features(self, docs: list[TokenizedText]) -> sparse.csr_matrix:
        blocks = []
        for part in (self.words, self.chars, self.cues):
            X = part.transform(docs)
            blocks.append(X * part.weight if part.weight != 1.0 else X)
        return sparse.hstack(blocks, format="csr")

    def signal_pointers(self, docs: list[TokenizedText]) -> np.ndarray:
        """Per text and flag, how strongly its words and cues (not its character n-grams, the costly part)
        point to the flag: enough to say which sentence of a flagged text carries the flag."""
        assert self.signals is not None
        n_words, n_chars = len(self.words.vocabulary), len(self.chars.vocabulary)
        W = self.signals.W
        words = self.words.transform(docs) * self.words.weight
        cues = self.cues.transform(docs) * self.cues.weight
        return np.asarray(words @ W[:n_words]) + np.asarray(cues @ W[n_words + n_chars:])

    def predict_proba(self, docs: list[TokenizedText]) -> tuple[np.ndarray, np.ndarray]:
        X = self.features(docs)
        return self.category.predict_proba(X), self.severity.predict_proba(X)

    # ------------------------------------------------------------ persistence
    def to_json(self) -> dict:
        return {
            "words": {"vocabulary": self.words.vocabulary, "weight": self.words.weight},
            "chars": {"vocabulary": self.chars.vocabulary, "weight": self.chars.weight,
                      "ngram_range": list(self.chars.ngram_range)},
            "cues": {"features": self.cues.features, "index": self.cues.index, "joiner": self.cues.joiner,
                     "weight": self.cues.weight},
            "category": {"classes": self.category.classes, "folds": self.category.folds},
            "severity": {"classes": self.severity.classes, "folds": self.severity.folds},
            "signals": ({"flags": self.signals.flags, "thresholds": self.signals.thresholds,
                         "confirm": self.signals.confirm}
                        if self.signals is not None else None),
            "temperature": self.temperature,
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"{self.lang}.words.idf": self.words.idf, f"{self.lang}.chars.idf": self.chars.idf}
        for target in ("category", "severity"):
            t = getattr(self, target)
            out.update({f"{self.lang}.{target}.{name}": getattr(t, name) for name in LinearTarget.ARRAYS})
        if self.signals is not None:
            out.update({f"{self.lang}.signals.{name}": getattr(self.signals, name) for name in SignalHeads.ARRAYS})
        return out

    @classmethod
    def from_data(cls, lang: str, meta: dict, arrays) -> ArrayLanguageModel:
        def target(name: str) -> LinearTarget:
            return LinearTarget(classes=list(meta[name]["classes"]), folds=int(meta[name]["folds"]),
                                **{a: arrays[f"{lang}.{name}.{a}"] for a in LinearTarget.ARRAYS})

        return cls(
            lang=lang,
            words=WordPart(meta["words"]["vocabulary"], arrays[f"{lang}.words.idf"], float(meta["words"]["weight"])),
            chars=CharPart(meta["chars"]["vocabulary"], arrays[f"{lang}.chars.idf"], float(meta["chars"]["weight"]),
                           tuple(meta["chars"]["ngram_range"])),
            cues=CuePart(meta["cues"]["features"], meta["cues"]["index"], meta["cues"]["joiner"],
                         float(meta["cues"]["weight"])),
            category=target("category"),
            severity=target("severity"),
            signals=(SignalHeads(flags=list(meta["signals"]["flags"]),
                                 thresholds=[float(t) for t in meta["signals"]["thresholds"]],
                                 confirm=[float(t) for t in meta["signals"].get("confirm", [])],
                                 **{a: arrays[f"{lang}.signals.{a}"] for a in SignalHeads.ARRAYS})
                     if meta.get("signals") else None),
            temperature={k: float(v) for k, v in (meta.get("temperature") or {}).items()},
        )


@dataclass
class TriageModel:
    version: str
    languages: dict[str, ArrayLanguageModel]
    meta: dict = field(default_factory=dict)

    def predict(self, texts: list[str], lang: str) -> list[tuple[str, float, str, float]]:
        """(category, confidence, severity, confidence) per text, all in one language."""
        return self.predict_tokenized(tokenize(texts, lang), lang)

    def predict_tokenized(self, docs: list[TokenizedText], lang: str) -> list[tuple[str, float, str, float]]:
        return [(*s.top("category"), *s.top("severity")) for s in self.score_tokenized(docs, lang)]

    def score_tokenized(self, docs: list[TokenizedText], lang: str) -> list[Scores]:
        return self.languages[lang].score(docs) if docs else []

    def save(self, directory: Path, card: dict) -> dict:
        """Writes the two artifacts and the card; evaluations already recorded in an existing card are kept,
        under the model version they were measured on."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "version": self.version, "meta": self.meta,
                "languages": {lang: lm.to_json() for lang, lm in self.languages.items()}}
        (directory / JSON_NAME).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        arrays: dict[str, np.ndarray] = {}
        for lm in self.languages.values():
            arrays.update(lm.to_arrays())
        with open(directory / ARRAYS_NAME, "wb") as f:
            np.savez_compressed(f, **arrays)
        previous = _earlier_evaluations(directory)
        card = {**card, "version": self.version, "format": FORMAT,
                "artifacts": {name: {"sha256": sha256_file(directory / name),
                                     "bytes": (directory / name).stat().st_size} for name in ARTIFACTS}}
        if previous:
            card["earlier_evaluations"] = previous
        write_card(directory, card)
        return card


def _earlier_evaluations(directory: Path) -> dict:
    try:
        old = read_card(directory)
    except ModelIntegrityError:
        return {}
    kept = dict(old.get("earlier_evaluations", {}))
    if old.get("evaluations"):
        kept[str(old.get("version", "unknown"))] = old["evaluations"]
    return kept


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_card(directory: Path, card: dict) -> None:
    (Path(directory) / CARD_NAME).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_card(directory: Path) -> dict:
    card_path = Path(directory) / CARD_NAME
    if not card_path.is_file():
        raise ModelIntegrityError(f"no model card at {card_path}; train a model with `complaint-triage train`")
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelIntegrityError(f"model card {card_path} is not valid JSON: {e}") from e


def load_model(directory: Path) -> TriageModel:
    directory = Path(directory)
    card = read_card(directory)
    if card.get("format") != FORMAT:
        raise ModelIntegrityError(
            f"{directory / CARD_NAME} describes a model of format {card.get('format')!r}; this version of "
            f"complaint-triage reads format {FORMAT}: retrain with `complaint-triage train`")
    for name in ARTIFACTS:
        path = directory / name
        if not path.is_file():
            raise ModelIntegrityError(f"model artifact {path} is missing")
        expected = str(card.get("artifacts", {}).get(name, {}).get("sha256"))
        actual = sha256_file(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"model artifact {path} has sha256 {actual[:12]}…, but {directory / CARD_NAME} expects "
                f"{expected[:12]}…; refusing to load an unverified file")
    try:
        meta = json.loads((directory / JSON_NAME).read_text(encoding="utf-8"))
        with np.load(directory / ARRAYS_NAME, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        languages = {lang: ArrayLanguageModel.from_data(lang, m, arrays) for lang, m in meta["languages"].items()}
    except (KeyError, ValueError, TypeError) as e:
        raise ModelIntegrityError(f"model in {directory} is malformed: {e!r}") from e
    for lm in languages.values():
        if set(lm.category.classes) - set(CATEGORIES) or set(lm.severity.classes) - set(SEVERITIES):
            raise ModelIntegrityError(f"{directory} predicts labels outside the contract")
    return TriageModel(version=meta["version"], languages=languages, meta=meta.get("meta", {}))

"""The category and severity classifiers, one pair per language, and their verified persistence.

Both targets share one fitted featurizer per language, so a text is tokenized and vectorized once and then
scored by two calibrated linear models. The artifact is a joblib file beside a JSON model card holding its
sha256; loading refuses a file whose hash does not match, because joblib runs code from what it unpickles.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import InconsistentVersionWarning
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
        X = self.featurizer.transform(docs)
        return self.category.predict_proba(X), self.severity.predict_proba(X)


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

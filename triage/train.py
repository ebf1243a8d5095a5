"""Training: deterministic, seeded, cross-validated, written with a model card."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import spacy
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from complaint_triage.contract import CATEGORIES, LANGUAGES, SEVERITIES
from complaint_triage.triage.corpus import (
    CorpusItem,
    corpus_hash,
    load_signal_items,
    signal_items_hash,
)
from complaint_triage.triage.features import tokenize
from complaint_triage.triage.fit import LanguageModel, fit_signal_heads
from complaint_triage.triage.lexicon import lexicon_hash
from complaint_triage.triage.model import FORMAT, Hyperparams, TriageModel
from complaint_triage.triage.signals import SIGNAL_GROUPS, extract_signals, signal_group_flags


def _by_lang(items: list[CorpusItem], lang: str):
    sel = [it for it in items if it.lang == lang]
    return [it.text for it in sel], [it.category for it in sel], [it.severity for it in sel]


def cross_validate(items: list[CorpusItem], hp: Hyperparams, folds: int, bar: tqdm | None = None) -> dict:
    """Stratified k-fold scores per language, on the corpus only."""
    out = {}
    for lang in LANGUAGES:
        texts, cats, sevs = _by_lang(items, lang)
        if not texts:
            continue
        pred_c, pred_s = np.empty(len(texts), dtype=object), np.empty(len(texts), dtype=object)
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=hp.seed)
        for train_idx, test_idx in skf.split(texts, cats):
            lm = LanguageModel.fit(
                lang, [texts[i] for i in train_idx], [cats[i] for i in train_idx], [sevs[i] for i in train_idx], hp
            )
            arrays = lm.to_arrays()
            cp, sp = arrays.predict_proba(tokenize([texts[i] for i in test_idx], lang))
            pred_c[test_idx] = np.asarray(arrays.category.classes)[cp.argmax(1)]
            pred_s[test_idx] = np.asarray(arrays.severity.classes)[sp.argmax(1)]
            if bar:
                bar.update(1)
        out[lang] = {
            "n": len(texts),
            "category_macro_f1": round(f1_score(cats, list(pred_c), labels=list(CATEGORIES), average="macro",
                                                zero_division=0), 4),
            "severity_macro_f1": round(f1_score(sevs, list(pred_s), labels=list(SEVERITIES), average="macro",
                                                zero_division=0), 4),
            "critical_recall": round(recall_score(sevs, list(pred_s), labels=["critical"], average="macro",
                                                  zero_division=0), 4),
        }
    return out


def train(
    items: list[CorpusItem],
    hp: Hyperparams | None = None,
    cv_folds: int = 5,
    progress: bool = True,
    cv_items: list[CorpusItem] | None = None,
) -> tuple[TriageModel, dict]:
    """``cv_items`` (default: ``items``) are what cross-validation scores; training with feedback passes the
    authored corpus alone, since repeated corrections would sit in both train and test folds."""
    hp = hp or Hyperparams()
    digest = corpus_hash(items)
    langs = [lg for lg in LANGUAGES if any(it.lang == lg for it in items)]
    cv_items = items if cv_items is None else cv_items
    cv_langs = {it.lang for it in cv_items}
    steps = len(langs) + (len(cv_langs) * cv_folds if cv_folds > 1 else 0)
    with tqdm(total=steps, desc="train", unit="fit", disable=not progress) as bar:
        cv = cross_validate(cv_items, hp, cv_folds, bar) if cv_folds > 1 else {}
        models = {}
        for lang in langs:
            models[lang] = LanguageModel.fit(lang, *_by_lang(items, lang), hp).to_arrays()
            signal_items = load_signal_items(lang)
            if signal_items:
                texts = [it.text for it in signal_items]
                cue_flags = [signal_group_flags(extract_signals(t, lang)) for t in texts]
                models[lang].signals = fit_signal_heads(
                    models[lang], texts, [it.model_dump() for it in signal_items], cue_flags, tuple(SIGNAL_GROUPS), hp.seed)
            bar.update(1)
    version = model_version(digest + signal_items_hash(), hp)
    counts: dict[str, dict[str, int]] = {}
    for it in items:
        key = f"{it.lang}/{it.category}/{it.severity}"
        counts.setdefault(it.lang, {})
        counts[it.lang][key] = counts[it.lang].get(key, 0) + 1
    card = {
        "name": "complaint-triage category and severity classifier",
        "trained_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "corpus_sha256": digest,
        "corpus_size": {lg: sum(it.lang == lg for it in items) for lg in langs},
        "hyperparameters": asdict(hp),
        "labels": {"category": list(CATEGORIES), "severity": list(SEVERITIES)},
        "libraries": {"scikit-learn": sklearn.__version__, "spacy": spacy.__version__,
                      "python": platform.python_version()},
        "features": "spaCy tokens (jieba for zh) word 1-2-grams TF-IDF + char_wb n-grams (zh 1-3, en 2-5) "
                    "+ cue-lexicon hit counts; calibrated LinearSVC (sigmoid, 3-fold) per target and language",
        "cross_validation": {"folds": cv_folds, "scores": cv},
        "evaluations": {},
    }
    card["lexicon_sha256"] = lexicon_hash()
    return TriageModel(version=version, languages=models, meta={"corpus_sha256": digest}), card


def model_version(corpus_digest: str, hp: Hyperparams) -> str:
    """Changes when the corpus, the lexicons (they shape both tokens and cue features), the hyperparameters or
    the saved format change; the same inputs always give the same version."""
    h = hashlib.sha256()
    for part in (corpus_digest, lexicon_hash(), json.dumps(asdict(hp), sort_keys=True), str(FORMAT)):
        h.update(part.encode())
        h.update(b"\0")
    return f"triage-{h.hexdigest()[:10]}"


def train_and_save(items: list[CorpusItem], out_dir: Path, **kw) -> dict:
    model, card = train(items, **kw)
    return model.save(Path(out_dir), card)

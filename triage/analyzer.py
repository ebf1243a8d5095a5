"""The triage stage as one object: text → language, signals, category, severity.

``Triage`` takes its collaborators with defaults (the shipped model), so tests and the service can pass their
own. It batches: ``analyze_many`` groups texts by language and scores each group with one matrix product,
which is where the classifier's throughput comes from.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from spacy.tokens import Doc

from complaint_triage.contract import Signals
from complaint_triage.models import MODEL_DIR_ENV
from complaint_triage.triage.features import TokenizedText, from_doc, make_docs
from complaint_triage.triage.language import detect_language
from complaint_triage.triage.model import Scores, TriageModel, load_model
from complaint_triage.triage.signals import extract_signals, sentence_spans, vetoed

UNSUPPORTED_SEVERITY = "medium"


def default_model_dir() -> Path:
    """``$TRIAGE_MODEL_DIR`` when set (the one variable the CLI, batch and the service all read), else the model
    shipped inside the package."""
    from complaint_triage.models import SHIPPED_MODEL_DIR

    return Path(os.environ.get(MODEL_DIR_ENV) or SHIPPED_MODEL_DIR)


class Prediction(BaseModel):
    label: str
    confidence: float


class TriageResult(BaseModel):
    language: Literal["zh", "en"] | None
    language_reason: str
    category: Prediction
    severity: Prediction
    signals: Signals
    category_probabilities: dict[str, float] = {}
    signal_probabilities: dict[str, float] = {}

    @property
    def supported(self) -> bool:
        return self.language is not None


SAFETY_NEEDS_DANGER_BELOW = 0.5


def _category(sc: Scores, signals: Signals, text: str, lang: str) -> tuple[str, float]:
    """The most probable category, except that ``safety`` (policy.md: injury, health hazard, fire, electrical
    or gas danger) needs a sign of danger: when the signal stage found none and the text's danger words are a
    known irrelevant mention ("fire him", "smoke alarm", "no fire") or the danger head doubts them, the next
    category stands. One word must not make a crisis; danger the signals find always keeps safety."""
    label, conf = sc.top("category")
    if label != "safety" or signals.injury:
        return label, conf
    if sc.signals and (vetoed(text, lang, "danger") or sc.signals.get("danger", 1.0) < SAFETY_NEEDS_DANGER_BELOW):
        rest = {k: v for k, v in sc.category.items() if k != "safety"}
        label = max(rest, key=rest.__getitem__)
        return label, rest[label]
    return label, conf


CRITICAL_LOSS = 20_000


def _severity(sc: Scores, signals: Signals) -> tuple[str, float]:
    """The most probable severity, except that ``critical`` (policy.md: danger to people, a collective
    complaint, active media exposure, legal action filed, a very large loss) needs one of those in the text;
    without any, the next severity stands, so a figure of speech cannot open a crisis."""
    label, conf = sc.top("severity")
    if label != "critical":
        return label, conf
    support = (signals.injury or signals.collective or signals.media_exposure or signals.legal_action_filed
               or signals.extreme_action or (signals.amount or 0) >= CRITICAL_LOSS)
    if support:
        return label, conf
    rest = {k: v for k, v in sc.severity.items() if k != "critical"}
    label = max(rest, key=rest.__getitem__)
    return label, rest[label]


class Triage:
    def __init__(self, model: TriageModel | None = None, model_dir: Path | None = None):
        self.model = model if model is not None else load_model(model_dir or default_model_dir())

    @property
    def model_version(self) -> str:
        return self.model.version

    def analyze(self, text: str, language: str | None = None, received: date | None = None) -> TriageResult:
        return self.analyze_many([text], [language], [received])[0]

    def analyze_many(
        self,
        texts: list[str],
        languages: list[str | None] | None = None,
        received: list[date | None] | None = None,
    ) -> list[TriageResult]:
        n = len(texts)
        languages = languages or [None] * n
        received = received or [None] * n
        langs: list[str | None] = []
        reasons: list[str] = []
        for text, given in zip(texts, languages):
            if given:
                langs.append(given)
                reasons.append("given")
            else:
                guess = detect_language(text)
                langs.append(guess.language)
                reasons.append(guess.reason)

        scores: dict[int, Scores] = {}
        docs: dict[int, Doc] = {}
        learned: dict[int, dict[str, tuple[int, int]]] = {}
        for lang in ("zh", "en"):
            idx = [i for i, lg in enumerate(langs) if lg == lang]
            if not idx:
                continue
            lang_docs = make_docs([texts[i] for i in idx], lang)
            for i, doc, sc in zip(idx, lang_docs, self.model.score_tokenized(
                    [from_doc(d, texts[i]) for i, d in zip(idx, lang_docs)], lang)):
                scores[i] = sc
                docs[i] = doc
            learned.update(self._learned_evidence(idx, texts, lang, scores, docs))

        results = []
        for i, text in enumerate(texts):
            lang = langs[i]
            if lang is None:
                results.append(
                    TriageResult(
                        language=None, language_reason=reasons[i],
                        category=Prediction(label="other", confidence=0.0),
                        severity=Prediction(label=UNSUPPORTED_SEVERITY, confidence=0.0),
                        signals=Signals(),
                    )
                )
                continue
            sc = scores[i]
            signals = extract_signals(text, lang, received[i], doc=docs[i], learned=learned.get(i),
                                      unconfirmed=frozenset(f for f, pr in sc.signals.items()
                                                            if pr < sc.signal_confirm.get(f, 0.0)))
            cat, cconf = _category(sc, signals, text, lang)
            sev, sconf = _severity(sc, signals)
            results.append(
                TriageResult(
                    language=lang, language_reason=reasons[i],
                    category=Prediction(label=cat, confidence=round(cconf, 4)),
                    severity=Prediction(label=sev, confidence=round(sconf, 4)),
                    category_probabilities={k: round(v, 4) for k, v in sc.category.items()},
                    signal_probabilities={k: round(v, 4) for k, v in sc.signals.items()},
                    signals=signals,
                )
            )
        return results

    def _learned_evidence(self, idx: list[int], texts: list[str], lang: str, scores: dict[int, Scores],
                          docs: dict[int, Doc]) -> dict[int, dict[str, tuple[int, int]]]:
        """For each flag a signal head raises, the sentence it scores highest is the evidence: every flag shown
        to an agent points at exact text. Only texts with such a flag pay for it, and only for their words and
        cues: the text's own tokens are cut at sentence ends, nothing is segmented twice."""
        wanted = {i: [f for f, p in scores[i].signals.items() if p >= scores[i].signal_thresholds.get(f, 1.1)]
                  for i in idx}
        wanted = {i: fs for i, fs in wanted.items() if fs}
        if not wanted:
            return {}
        pieces: list[tuple[int, tuple[int, int]]] = []
        sentence_docs: list[TokenizedText] = []
        for i in wanted:
            spans = sentence_spans(texts[i])
            tokens: list[list[str]] = [[] for _ in spans]
            k = 0
            for t in docs[i]:  # the text's own tokens, cut at sentence ends: no second segmentation
                while k < len(spans) - 1 and t.idx >= spans[k][1]:
                    k += 1
                if not t.is_space:
                    tokens[k].append(t.lower_)
            for span, toks in zip(spans, tokens):
                pieces.append((i, span))
                sentence_docs.append(TokenizedText(texts[i][span[0]:span[1]], tuple(toks)))
        lm = self.model.languages[lang]
        pointers = lm.signal_pointers(sentence_docs)
        column = {f: j for j, f in enumerate(lm.signals.flags)}
        out: dict[int, dict[str, tuple[int, int]]] = {}
        for i, flags in wanted.items():
            mine = [(span, row) for (j, span), row in zip(pieces, pointers) if j == i]
            out[i] = {}
            for f in flags:
                (a, b), _ = max(mine, key=lambda m, f=f: m[1][column[f]])
                # A sentence with a known irrelevant mention ("fire him", "smoke alarm") is not evidence.
                if not vetoed(texts[i][a:b], lang, f):
                    out[i][f] = (a, b)
        return out

"""Scores of a model on labelled complaints, per language, in the form the model card and README carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from complaint_triage.contract import CATEGORIES, LANGUAGES, SEVERITIES
from complaint_triage.triage.analyzer import Triage
from complaint_triage.triage.calibration import expected_calibration_error, risk_coverage
from complaint_triage.triage.signals import SIGNAL_GROUPS, signal_group_flags


class EvalRow(BaseModel):
    id: str
    text: str
    category: str
    severity: str | None = None


class EvalInputError(ValueError):
    pass


def read_eval_rows(data: Path, labels: Path | None = None) -> list[EvalRow]:
    """Rows of ``data`` that carry labels, inline or joined by ``id`` from ``labels``."""
    label_map: dict[str, dict] = {}
    if labels is not None:
        with open(labels, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rec = json.loads(line)
                        label_map[str(rec["id"])] = rec
                    except (json.JSONDecodeError, KeyError, TypeError) as e:
                        raise EvalInputError(f"{labels}:{n}: not a JSON object with an id ({e})") from e
    with open(data, encoding="utf-8") as f:
        lines = list(enumerate(f, 1))
    rows = []
    for n, line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalInputError(f"{data}:{n}: invalid JSON ({e.msg})") from e
        if not isinstance(rec, dict) or "text" not in rec:
            raise EvalInputError(f"{data}:{n}: expected an object with a text field")
        rid = str(rec.get("id", n))
        lab = label_map.get(rid, rec) if labels is not None else rec
        if "category" in lab:
            rows.append(EvalRow(id=rid, text=rec["text"], category=lab["category"], severity=lab.get("severity")))
    if not rows:
        raise EvalInputError(f"{data}: no labelled rows (labels inline or via --labels)")
    return rows


def _report(gold: list[str], pred: list[str], labels: tuple[str, ...]) -> dict:
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=list(labels), zero_division=0)
    present = [i for i, lab in enumerate(labels) if s[i] > 0]
    return {
        "n": len(gold),
        "accuracy": round(sum(g == q for g, q in zip(gold, pred)) / max(len(gold), 1), 4),
        "macro_f1": round(float(sum(f[i] for i in present) / max(len(present), 1)), 4),
        "per_class": {
            lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4),
                  "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": list(labels),
                      "matrix": confusion_matrix(gold, pred, labels=list(labels)).tolist()},
    }


def evaluate(triage: Triage, rows: list[EvalRow], batch_size: int = 512, secondary_threshold: float = 0.30) -> dict:
    results = []
    for i in range(0, len(rows), batch_size):
        results += triage.analyze_many([r.text for r in rows[i : i + batch_size]])
    out: dict = {"model": triage.model_version, "languages": {}}
    for lang in (*LANGUAGES, None):
        idx = [i for i, res in enumerate(results) if res.language == lang]
        if not idx:
            continue
        key = lang or "unsupported"
        if lang is None:
            out["languages"][key] = {"n": len(idx), "ids": [rows[i].id for i in idx]}
            continue
        cat = _report([rows[i].category for i in idx], [results[i].category.label for i in idx], CATEGORIES)
        sidx = [i for i in idx if rows[i].severity]
        sev = _report([rows[i].severity for i in sidx], [results[i].severity.label for i in sidx], SEVERITIES)
        sev["critical_recall"] = sev["per_class"]["critical"]["recall"]
        cat.update(_trust([rows[i].category for i in idx], [results[i] for i in idx], secondary_threshold))
        out["languages"][key] = {"category": cat, "severity": sev}
    return out


def _trust(gold: list[str], results: list, secondary_threshold: float) -> dict:
    """Calibration, risk–coverage and how often the primary or an alternative (policy.md: probability at
    least ``secondary_threshold``, at most two) is the gold label."""
    conf = np.array([r.category.confidence for r in results])
    correct = np.array([r.category.label == g for g, r in zip(gold, results)])
    with_alternatives = []
    for g, r in zip(gold, results):
        alts = [c for c, p in sorted(r.category_probabilities.items(), key=lambda kv: -kv[1])
                if c != r.category.label and p >= secondary_threshold][:2]
        with_alternatives.append(g == r.category.label or g in alts)
    return {"ece": expected_calibration_error(conf, correct),
            "mean_confidence": round(float(conf.mean()), 4) if len(conf) else 0.0,
            "risk_coverage": risk_coverage(conf, correct),
            "primary_or_alternative_accuracy": round(float(np.mean(with_alternatives)), 4) if gold else 0.0,
            "secondary_threshold": secondary_threshold}


def format_report(report: dict) -> str:
    lines = [f"model {report['model']}"]
    for lang, r in report["languages"].items():
        if lang == "unsupported":
            lines.append(f"\n[{lang}] {r['n']} texts not in a supported language: {', '.join(r['ids'][:10])}")
            continue
        for target in ("category", "severity"):
            t = r[target]
            extra = f"  critical recall {t['critical_recall']:.3f}" if target == "severity" else ""
            if target == "category" and "ece" in t:
                extra = (f"  ECE {t['ece']:.3f}  primary-or-alternative {t['primary_or_alternative_accuracy']:.3f}")
            lines.append(f"\n[{lang}] {target}: n={t['n']} accuracy {t['accuracy']:.3f}  macro-F1 {t['macro_f1']:.3f}"
                         f"{extra}")
            if target == "category" and "risk_coverage" in t:
                lines.append("  review threshold → routed automatically / accuracy of those: " + ", ".join(
                    f"{rc['threshold']:.2f}→{rc['coverage']:.0%}/{rc['accuracy'] or 0:.0%}" for rc in t["risk_coverage"]))
            lines.append(f"  {'label':<18}{'prec':>7}{'rec':>7}{'f1':>7}{'n':>6}")
            for lab, m in t["per_class"].items():
                lines.append(f"  {lab:<18}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{m['support']:>6}")
            labs = t["confusion"]["labels"]
            short = [lab[:6] for lab in labs]
            lines.append("  confusion (rows gold, columns predicted)")
            lines.append("  " + " " * 18 + "".join(f"{s:>7}" for s in short))
            for lab, row in zip(labs, t["confusion"]["matrix"]):
                lines.append(f"  {lab:<18}" + "".join(f"{v:>7}" for v in row))
    return "\n".join(lines)


# ---------------------------------------------------------------- signals
def evaluate_signals(triage: Triage, cases: list[dict]) -> dict:
    """Precision, recall and false-alarm rate per flag and language of the whole signal stage (cue lexicon,
    context and learned heads); ``cases`` carry text, lang and the six flags. Returns also the misses and
    false alarms, so a change can be read case by case."""
    out: dict = {}
    for lang in sorted({c["lang"] for c in cases}):
        rows = [c for c in cases if c["lang"] == lang]
        results = triage.analyze_many([c["text"] for c in rows], [lang] * len(rows))
        got = [signal_group_flags(r.signals) for r in results]
        per = {}
        for flag in SIGNAL_GROUPS:
            tp = sum(1 for c, g in zip(rows, got) if c[flag] and g[flag])
            fp = sum(1 for c, g in zip(rows, got) if not c[flag] and g[flag])
            fn = sum(1 for c, g in zip(rows, got) if c[flag] and not g[flag])
            negatives = sum(1 for c in rows if not c[flag])
            per[flag] = {
                "n_positive": tp + fn, "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
                "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
                "false_alarm_rate": round(fp / negatives, 4) if negatives else 0.0,
                "missed": [c["id"] for c, g in zip(rows, got) if c[flag] and not g[flag]],
                "false_alarms": [c["id"] for c, g in zip(rows, got) if not c[flag] and g[flag]],
            }
        out[lang] = {"n": len(rows), "flags": per}
    return out

"""Does a stated confidence mean what it says? Expected calibration error, risk–coverage, temperature.

A confidence of 0.8 should be right 8 times in 10 on real complaints, not on the authored corpus; these
measures are what the model card reports per language, and ``fit_temperature`` is the one scalar per language
and target that may be chosen on labelled real text (the dev labels), never the classifier's weights.
"""

from __future__ import annotations

import numpy as np

COVERAGE_THRESHOLDS = (0.0, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)
TEMPERATURES = np.round(np.arange(0.5, 6.01, 0.05), 2)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy − confidence| over equal-width confidence bins."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if not len(confidence):
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return round(float(total), 4)


def risk_coverage(confidence: np.ndarray, correct: np.ndarray,
                  thresholds: tuple[float, ...] = COVERAGE_THRESHOLDS) -> list[dict]:
    """For each review threshold: the share routed automatically (confidence ≥ threshold) and their accuracy."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    rows = []
    for t in thresholds:
        auto = confidence >= t
        rows.append({"threshold": t, "coverage": round(float(auto.mean()), 4) if len(auto) else 0.0,
                     "accuracy": round(float(correct[auto].mean()), 4) if auto.any() else None})
    return rows


def apply_temperature(probs: np.ndarray, t: float) -> np.ndarray:
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / t
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> float:
    """The temperature (a grid) minimising the negative log-likelihood of the gold labels."""
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        q = apply_temperature(probs, float(t))
        nll = -np.mean(np.log(np.clip(q[np.arange(len(gold)), gold], 1e-12, 1.0)))
        if nll < best_nll - 1e-9:
            best, best_nll = float(t), nll
    return best

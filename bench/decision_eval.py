"""The final severity the product outputs (the model's, raised by the policy's escalation floors) scored
against labelled real complaints: what an agent sees, beside `evaluate`'s model-only severity.

    python bench/decision_eval.py TEXTS.jsonl LABELS.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.metrics import f1_score, recall_score

from complaint_triage.contract import SEVERITIES, Complaint
from complaint_triage.pipeline import Decider
from complaint_triage.triage.evaluate import read_eval_rows


def main() -> None:
    rows = read_eval_rows(Path(sys.argv[1]), Path(sys.argv[2]))
    decisions = Decider().decide_many([Complaint(text=r.text) for r in rows])
    for lang in ("zh", "en"):
        pairs = [(r.severity, d.severity.label) for r, d in zip(rows, decisions) if d.language == lang and r.severity]
        gold, got = zip(*pairs)
        recall = recall_score(gold, got, labels=list(SEVERITIES), average=None, zero_division=0)
        print(f"{lang}: final severity macro-F1 "
              f"{f1_score(gold, got, labels=list(SEVERITIES), average='macro', zero_division=0):.3f}, recall "
              + ", ".join(f"{s} {r:.2f}" for s, r in zip(SEVERITIES, recall)))


if __name__ == "__main__":
    main()

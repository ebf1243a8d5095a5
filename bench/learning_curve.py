"""Learning from corrections, measured: a company whose agents correct complaints of a register the corpus
lacks (call-centre agents' ticket notes, bench/data/agent_notes/, authored for this bench and disjoint from the
corpus). For N corrections, the corrections go into a real store, `complaint-triage train --with-feedback`
retrains, and category and severity macro-F1 are measured on held-out notes of the same register.

    python bench/learning_curve.py [--n 0 50 100 200 400] [--weights 3 10] [--heldout 150]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sklearn.metrics import f1_score

from complaint_triage.contract import CATEGORIES, SEVERITIES
from complaint_triage.service.store import Record, Store
from complaint_triage.triage.analyzer import Triage

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "agent_notes"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def load(lang: str) -> list[dict]:
    with open(DATA / f"{lang}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def split(items: list[dict], heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    items = items[:]
    rng.shuffle(items)
    return items[heldout:], items[:heldout]


def store_corrections(url: str, corrections: list[dict]) -> None:
    """As the service would hold them: each note decided (any label), then corrected by an agent."""
    store = Store(url)
    store.create_schema()
    for i, it in enumerate(corrections):
        cid = f"note-{i}"
        store.insert(Record(id=cid, received_at=T0, text=it["text"], language=it["lang"], category="other",
                            severity="low", department="customer_service", escalation_level=0,
                            refund_eligibility=None,
                            decision={"id": cid, "category": {"label": "other"}, "severity": {"label": "low"}}))
        store.add_feedback(cid, it["category"], it["severity"], None, None)
    store.engine.dispose()


def scores(model_dir: Path | None, heldout: dict[str, list[dict]]) -> dict:
    triage = Triage(model_dir=model_dir)
    out = {}
    for lang, items in heldout.items():
        res = triage.analyze_many([it["text"] for it in items], [lang] * len(items))
        out[lang] = {
            "category_macro_f1": round(f1_score([it["category"] for it in items], [r.category.label for r in res],
                                                labels=list(CATEGORIES), average="macro", zero_division=0), 4),
            "severity_macro_f1": round(f1_score([it["severity"] for it in items], [r.severity.label for r in res],
                                                labels=list(SEVERITIES), average="macro", zero_division=0), 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[0, 50, 100, 200, 400])
    ap.add_argument("--weights", type=int, nargs="+", default=[3, 10])
    ap.add_argument("--heldout", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "learning_curve.json")
    args = ap.parse_args()
    pools, heldout = {}, {}
    for lang in ("zh", "en"):
        pools[lang], heldout[lang] = split(load(lang), args.heldout, args.seed)
    runs = []
    for weight in args.weights:
        for n in args.n:
            if n == 0 and weight != args.weights[0]:
                continue  # no corrections: the same model whatever the weight
            started = time.monotonic()
            if n == 0:
                result = scores(None, heldout)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/feedback.db"
                    store_corrections(url, pools["zh"][:n] + pools["en"][:n])
                    model = Path(tmp) / "model"
                    subprocess.run([sys.executable, "-m", "complaint_triage", "train", "--with-feedback", url,
                                    "--feedback-weight", str(weight), "--out", str(model), "--cv", "0", "--quiet"],
                                   check=True, stdout=subprocess.DEVNULL)
                    result = scores(model, heldout)
            runs.append({"corrections_per_language": n, "weight": weight, "scores": result,
                         "seconds": round(time.monotonic() - started, 1)})
            print(json.dumps(runs[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"heldout_per_language": args.heldout, "seed": args.seed, "runs": runs},
                                   indent=2) + "\n")


if __name__ == "__main__":
    main()

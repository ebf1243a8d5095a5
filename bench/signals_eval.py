"""The signal stage measured: precision, recall and false alarms per flag and language on the project's own
signal test set (tests/data/signals/, written by the project, a third hard negatives), split into the half read
while writing the context lexicon (odd ids) and the held-out half (even ids); and the flags' agreement with the
`refund_requested` / `escalation_threat` labels of a labelled real-world file, when one is given.

    python bench/signals_eval.py [--model-dir DIR] [--realworld TEXTS --labels LABELS]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from complaint_triage.triage.analyzer import Triage
from complaint_triage.triage.evaluate import evaluate_signals

ROOT = Path(__file__).resolve().parent.parent
THREAT_FLAGS = ("media_threat", "media_exposure", "legal_threat", "legal_action_filed", "regulator_threat")


def load_cases() -> list[dict]:
    cases = []
    for path in sorted((ROOT / "tests" / "data" / "signals").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            cases += [{**json.loads(line), "lang": path.stem} for line in f if line.strip()]
    return cases


def agreement(triage: Triage, texts: Path, labels: Path) -> dict:
    gold = {}
    with labels.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                gold[r["id"]] = r
    rows = []
    with texts.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r["id"] in gold:
                    rows.append(r)
    results = triage.analyze_many([r["text"] for r in rows])
    out: dict = {}
    for lang in ("zh", "en"):
        pairs = [(gold[r["id"]], res) for r, res in zip(rows, results) if res.language == lang]
        out[lang] = {}
        for label, pred in (("refund_requested", lambda s: s.refund_request),
                            ("escalation_threat", lambda s: any(getattr(s, f) for f in THREAT_FLAGS))):
            g = [bool(p[0].get(label)) for p in pairs]
            q = [bool(pred(p[1].signals)) for p in pairs]
            tp = sum(a and b for a, b in zip(g, q))
            out[lang][label] = {
                "n": len(g), "agreement": round(sum(a == b for a, b in zip(g, q)) / max(len(g), 1), 4),
                "precision": round(tp / max(sum(q), 1), 4), "recall": round(tp / max(sum(g), 1), 4),
                "positives": sum(g)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--realworld", type=Path, default=None)
    ap.add_argument("--labels", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "signals_eval.json")
    args = ap.parse_args()
    triage = Triage(model_dir=args.model_dir)
    cases = load_cases()
    halves = {"held_out": [c for c in cases if int(c["id"].rsplit("-", 1)[1]) % 2 == 0],
              "lexicon_dev": [c for c in cases if int(c["id"].rsplit("-", 1)[1]) % 2 == 1]}
    report: dict = {"model": triage.model_version, "halves": {}}
    for half, rows in halves.items():
        r = evaluate_signals(triage, rows)
        report["halves"][half] = {lang: {"n": v["n"], "flags": {f: {k: m[k] for k in
                                  ("n_positive", "precision", "recall", "false_alarm_rate")}
                                  for f, m in v["flags"].items()}} for lang, v in r.items()}
    if args.realworld and args.labels:
        report["realworld_agreement"] = agreement(triage, args.realworld, args.labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for half, langs in report["halves"].items():
        print(f"\n{half}")
        print("| flag | zh P | zh R | zh false alarms | en P | en R | en false alarms |")
        print("|---|---|---|---|---|---|---|")
        for flag in langs["zh"]["flags"]:
            z, e = langs["zh"]["flags"][flag], langs["en"]["flags"][flag]
            print(f"| {flag} | {z['precision']:.2f} | {z['recall']:.2f} | {z['false_alarm_rate']:.1%} | "
                  f"{e['precision']:.2f} | {e['recall']:.2f} | {e['false_alarm_rate']:.1%} |")
    if "realworld_agreement" in report:
        print("\nagreement with real-world labels:", json.dumps(report["realworld_agreement"]))


if __name__ == "__main__":
    main()

"""Speed of the rules stage alone and of decide end to end, one process, plus memory over many decisions.

Usage: python bench/rules_bench.py [--decisions 100000] [--texts 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from complaint_triage.contract import Complaint
from complaint_triage.pipeline import Decider
from complaint_triage.rules.decide import PolicyDecider
from complaint_triage.rules.facts import Facts
from complaint_triage.triage.corpus import load_corpus


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--texts", type=int, default=2_000)
    args = ap.parse_args()
    rng = random.Random(7)
    cats = ["product_quality", "delivery", "billing", "refund_return", "service_attitude", "account_security",
            "safety", "facilities", "other"]
    facts = [Facts(category=rng.choice(cats), category_confidence=rng.random(),
                   severity=rng.choice(["low", "medium", "high", "critical"]), language_supported=True,
                   prior_complaints=rng.choice([0, 0, 1]), affected_customers=rng.choice([1, 1, 3, 12]),
                   injury=rng.random() < 0.1, legal_threat=rng.random() < 0.1, refund_requested=rng.random() < 0.5,
                   amount=rng.choice([None, 50.0, 180.0, 2500.0]), days_since_incident=rng.choice([None, 30, 200]),
                   fault=rng.choice(["verified", "rejected", "unknown"])) for _ in range(1000)]
    result: dict = {"rules_decisions": args.decisions, "distinct_fact_sets": len(facts)}
    # Uncached: durable_rules runs every decision. Cached: the engine runs once per case its conditions can tell
    # apart (rules/engine.py FiringKey), as in a real backlog; memory is read over the uncached run.
    for name, policy in (("uncached", PolicyDecider(cache=False)), ("cached", PolicyDecider())):
        for f in facts[:200]:
            policy.decide(f)
        start_rss, t = rss_mb(), time.perf_counter()
        for i in range(args.decisions):
            policy.decide(facts[i % len(facts)])
        rules_s = time.perf_counter() - t
        result[f"rules_{name}_per_s"] = round(args.decisions / rules_s)
        result[f"rules_{name}_us_per_decision"] = round(rules_s / args.decisions * 1e6, 1)
        if name == "uncached":
            result.update(rss_mb_before=round(start_rss, 1), rss_mb_after=round(rss_mb(), 1))

    items = load_corpus()
    rng.shuffle(items)
    texts = [it.text for it in items[: args.texts]]
    decider = Decider()
    decider.triage.analyze_many(texts[:20])
    t = time.perf_counter()
    decider.triage.analyze_many(texts)
    triage_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(texts), 256):
        decider.decide_many([Complaint(text=x) for x in texts[i : i + 256]])
    decide_s = time.perf_counter() - t
    t = time.perf_counter()
    for x in texts[:300]:
        decider.decide(Complaint(text=x))
    single_s = (time.perf_counter() - t) / 300
    result.update(triage_texts=len(texts), triage_per_s=round(len(texts) / triage_s),
                  decide_batched_per_s=round(len(texts) / decide_s),
                  decide_single_ms=round(single_s * 1e3, 2))
    print(json.dumps(result, indent=2))
    Path("bench/results").mkdir(exist_ok=True)
    Path("bench/results/rules_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

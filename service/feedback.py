"""The feedback loop: agents' corrections, stored by the service, as training items and evaluation rows.

Corrections come from ``Store.labelled_feedback`` (the latest label per complaint, the decision's label
where the agent set none). Texts are the stored masked texts, so a model trained on them sees placeholders
where customers wrote phone or card numbers, exactly as the service shows them to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from complaint_triage.contract import CATEGORIES, LANGUAGES, SEVERITIES
from complaint_triage.service.store import LabelledFeedback, Store
from complaint_triage.triage.corpus import CorpusItem

FEEDBACK_INDUSTRY = "other"
FEEDBACK_STYLE = "feedback"
DEFAULT_WEIGHT = 3
COMPARED = (("category_macro_f1", "category macro-F1"), ("severity_macro_f1", "severity macro-F1"),
            ("critical_recall", "critical recall"))


class FeedbackError(RuntimeError):
    pass


class FeedbackSummary(BaseModel):
    """What a training run took from the store; ``items`` counts corrections once, before any weighting."""

    database: str
    items: dict[str, int]
    category_changed: int
    severity_changed: int
    skipped: int

    @property
    def total(self) -> int:
        return sum(self.items.values())


@dataclass(frozen=True)
class Feedback:
    rows: list[LabelledFeedback]
    summary: FeedbackSummary

    def corpus_items(self, weight: int = 1) -> list[CorpusItem]:
        """Each correction ``weight`` times: repetition is how a model trained without sample weights is
        told that a few hundred real, agent-checked texts count for more than their share of ~5,800 authored
        ones."""
        items = [CorpusItem.model_validate({"text": r.text, "lang": r.language, "category": r.category,
                                            "severity": r.severity, "industry": FEEDBACK_INDUSTRY,
                                            "register": FEEDBACK_STYLE}) for r in self.rows]
        return [it for it in items for _ in range(weight)]


def masked_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def open_store(url: str) -> Store:
    """A store that exists and has the service's tables, or a FeedbackError saying which of those failed.

    A SQLite file that does not exist is refused rather than connected to, which would create an empty one.
    """
    shown = masked_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise FeedbackError("not a database URL (expected e.g. sqlite:///triage.db or "
                            "postgresql+psycopg://user@host/db)") from None
    db = parsed.database
    if parsed.get_backend_name() == "sqlite" and db not in (None, "", ":memory:") and not Path(db).is_file():
        raise FeedbackError(f"no SQLite database file at {db}")
    try:
        store = Store(url)
    except (NoSuchModuleError, ModuleNotFoundError, ArgumentError) as e:
        raise FeedbackError(f"cannot use {shown}: {e}") from None
    try:
        names = inspect(store.engine).get_table_names()
    except SQLAlchemyError as e:
        store.engine.dispose()
        raise FeedbackError(f"cannot connect to {shown}: {type(e).__name__}: {_first_line(e)}") from None
    missing = [t.name for t in (store.complaints, store.feedback) if t.name not in names]
    if missing:
        store.engine.dispose()
        raise FeedbackError(f"{shown} has no {' or '.join(missing)} table: "
                            "is it the triage service's database?")
    return store


def _first_line(e: Exception) -> str:
    msg = str(getattr(e, "orig", None) or e).strip()
    return msg.splitlines()[0] if msg else ""


def read_feedback(url: str) -> Feedback:
    """All labelled corrections in the store at ``url``; rows with labels outside the contract (which the API
    never writes) are counted as skipped rather than failing the run."""
    store = open_store(url)
    shown = masked_url(url)
    rows: list[LabelledFeedback] = []
    items = {lang: 0 for lang in LANGUAGES}
    cat_changed = sev_changed = skipped = 0
    try:
        for r in store.labelled_feedback():
            if r.language not in LANGUAGES or r.category not in CATEGORIES or r.severity not in SEVERITIES:
                skipped += 1
                continue
            rows.append(r)
            items[r.language] += 1
            cat_changed += r.category != r.decided_category
            sev_changed += r.severity != r.decided_severity
    except SQLAlchemyError as e:
        raise FeedbackError(f"reading feedback from {shown} failed: {type(e).__name__}: "
                            f"{_first_line(e)}") from None
    finally:
        store.engine.dispose()
    return Feedback(rows, FeedbackSummary(database=shown, items=items, category_changed=cat_changed,
                                          severity_changed=sev_changed, skipped=skipped))


# ---------------------------------------------------------------- before/after
def headline(report: dict) -> dict[str, dict]:
    """The three numbers per language that decide whether a retrained model is better; critical recall is
    None where the rows hold no critical complaint, since 0.0 there would read as a failure."""
    out: dict[str, dict] = {}
    for lang, r in report["languages"].items():
        if lang == "unsupported":
            continue
        sev = r["severity"]
        has_critical = sev["per_class"]["critical"]["support"] > 0
        out[lang] = {"n": r["category"]["n"], "category_macro_f1": r["category"]["macro_f1"],
                     "severity_macro_f1": sev["macro_f1"] if sev["n"] else None,
                     "critical_recall": sev["critical_recall"] if has_critical else None}
    return out


def compare_reports(before: dict, after: dict) -> dict[str, dict]:
    b, a = headline(before), headline(after)
    out: dict[str, dict] = {}
    for lang in [lg for lg in LANGUAGES if lg in b or lg in a]:
        row: dict = {"n": (b.get(lang) or a[lang])["n"]}
        for key, _ in COMPARED:
            x, y = (b.get(lang) or {}).get(key), (a.get(lang) or {}).get(key)
            row[key] = {"before": x, "after": y,
                        "delta": round(y - x, 4) if x is not None and y is not None else None}
        out[lang] = row
    return out


def format_comparison(before: dict, after: dict, deltas: dict[str, dict], labels: tuple[str, str]) -> str:
    before_name, after_name = labels
    lines = [f"before: model {before['model']} ({before_name})",
             f"after:  model {after['model']} ({after_name})", "",
             f"{'lang':<6}{'n':>6}  {'metric':<20}{'before':>8}{'after':>8}{'delta':>8}"]

    def num(v: float | None, signed: bool = False) -> str:
        return "-" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")

    for lang, row in deltas.items():
        for i, (key, name) in enumerate(COMPARED):
            m = row[key]
            lead = f"{lang:<6}{row['n']:>6}" if i == 0 else " " * 12
            cells = f"{num(m['before']):>8}{num(m['after']):>8}{num(m['delta'], True):>8}"
            lines.append(f"{lead}  {name:<20}{cells}")
    return "\n".join(lines)

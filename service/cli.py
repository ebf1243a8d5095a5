"""The command line: a thin layer over the library; errors become messages here and nowhere deeper."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Iterator

import click
from pydantic import ValidationError

from rules.schema import Complaint
from triage.corpus import CORPUS_DIR, CorpusError, load_corpus
from triage.model import Hyperparams, ModelIntegrityError, read_card

DECIDE_CHUNK = 256


def _default_model_dir() -> Path:
    from triage.analyzer import default_model_dir

    return default_model_dir()


def validation_message(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


@click.group()
@click.version_option(package_name="complaint-triage")
def main() -> None:
    """Triage customer complaints in Chinese or English: category, severity, signals and a handling decision."""


@main.command()
@click.option("--corpus", "corpus_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=CORPUS_DIR, show_default=True, help="Directory of authored *.jsonl corpus files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write triage.joblib and model_card.json (default: the shipped models/).")
@click.option("--cv", "cv_folds", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Cross-validation folds for the model card (0 skips).")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(corpus_dir: Path, out_dir: Path | None, cv_folds: int, seed: int, quiet: bool) -> None:
    """Train the category and severity models from the corpus.

    Example: complaint-triage train --out /tmp/model --cv 0
    """
    from triage.train import train_and_save

    try:
        items = load_corpus(corpus_dir)
    except CorpusError as e:
        raise click.ClickException(str(e)) from e
    out_dir = out_dir or _default_model_dir()
    card = train_and_save(items, out_dir, hp=Hyperparams(seed=seed), cv_folds=cv_folds, progress=not quiet)
    click.echo(f"wrote {out_dir / card['artifact']} ({card['artifact_bytes'] / 1e6:.1f} MB), version {card['version']}")
    for lang, s in card["cross_validation"]["scores"].items():
        click.echo(f"  {lang}: {cv_folds}-fold CV category macro-F1 {s['category_macro_f1']:.3f}, severity macro-F1 "
                   f"{s['severity_macro_f1']:.3f}, critical recall {s['critical_recall']:.3f}")


@main.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON lines of {id, category, severity} joined to DATA by id.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--record", default=None, metavar="NAME",
              help="Also store the scores in the model card under evaluations.NAME.")
def evaluate(data: Path, labels: Path | None, model_dir: Path | None, as_json: bool, record: str | None) -> None:
    """Per-class precision/recall/F1 and confusion matrices per language.

    Example: complaint-triage evaluate ../shared/realworld/texts.jsonl --labels ../shared/realworld/labels_dev.jsonl
    """
    from triage.analyzer import Triage
    from triage.evaluate import EvalInputError, evaluate as run_eval, format_report, read_eval_rows

    model_dir = model_dir or _default_model_dir()
    try:
        rows = read_eval_rows(data, labels)
        triage_ = Triage(model_dir=model_dir)
    except (EvalInputError, ModelIntegrityError) as e:
        raise click.ClickException(str(e)) from e
    report = run_eval(triage_, rows)
    report["data"] = data.name
    report["labels"] = labels.name if labels else None
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_report(report))
    if record:
        card_path = model_dir / "model_card.json"
        card = read_card(model_dir)
        card.setdefault("evaluations", {})[record] = report
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"recorded as evaluations.{record} in {card_path}", err=True)


def _numbered_lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(stream, 1):
        if line.strip():
            yield n, line


def _load_decider(model_dir: Path | None, policy_dir: Path | None):
    from rules.policy import PolicyError
    from service.pipeline import Decider

    try:
        return Decider(model_dir=model_dir, policy_dir=policy_dir)
    except (ModelIntegrityError, PolicyError) as e:
        raise click.ClickException(str(e)) from e


def explain_text(decision) -> str:
    lines = [f"# {decision.id}: {decision.category.label} / {decision.severity.label} → {decision.department}, "
             f"level {decision.escalation.level} ({decision.escalation.name}), refund {decision.refund.eligibility}"]
    for fired in decision.explanation or []:
        lines.append(f"#   {fired.name} [{fired.stage}]: {fired.why} → {', '.join(fired.sets)}")
    return "\n".join(lines)


@main.command()
@click.option("--text", default=None, help="Decide one complaint given on the command line.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--policy", "policy_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A policy directory (policy.toml, plan_text.toml, rulesets/*.json) instead of the default.")
@click.option("--explain", is_flag=True, help="Also print, in words, which rules fired and why (on stderr).")
def decide(text: str | None, model_dir: Path | None, policy_dir: Path | None, explain: bool) -> None:
    """Read complaints as JSON lines on stdin and write one decision JSON line each.

    A line that is not valid gets an error on stderr naming its line number; the rest go on. The exit code is 1
    when any line failed.

    Example: echo '{"text": "快递丢了,客服也不理人"}' | complaint-triage decide
    """
    decider = _load_decider(model_dir, policy_dir)
    failed = 0
    pending: list[tuple[int, Complaint]] = []

    def flush() -> None:
        for _, decision in zip(pending, decider.decide_many([c for _, c in pending], explain=explain)):
            if explain:
                click.echo(explain_text(decision), err=True)
            sys.stdout.write(decision.model_dump_json(exclude={"explanation"}) + "\n")
        sys.stdout.flush()
        pending.clear()

    lines = [(1, json.dumps({"text": text}))] if text is not None else _numbered_lines(sys.stdin)
    for n, line in lines:
        try:
            pending.append((n, Complaint.model_validate_json(line)))
        except ValidationError as e:
            failed += 1
            click.echo(f"line {n}: {validation_message(e)}", err=True)
            continue
        if len(pending) >= DECIDE_CHUNK:
            flush()
    flush()
    if failed:
        click.echo(f"{failed} line(s) failed", err=True)
        sys.exit(1)


def _register_serve() -> None:
    from service.cli_serve import serve

    main.add_command(serve)


_register_serve()


@main.group()
def rules() -> None:
    """Tools for policy owners."""


@rules.command("test")
@click.argument("cases", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", "policy_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def rules_test(cases: Path, policy_dir: Path | None, model_dir: Path | None) -> None:
    """Run a table of cases against a policy and report every mismatch.

    CASES is JSON lines of {"name": ..., "input": {complaint}, "expect": {"department": "billing",
    "escalation.level": 2, "refund.eligibility": "eligible", "also_notify": ["legal"], ...}}. Give the category
    and severity in the input to test the policy alone, independent of the model.

    Example: complaint-triage rules test tests/policy_cases.jsonl --policy my-policy/
    """
    from service.policy_cases import CaseError, read_cases, run_cases

    decider = _load_decider(model_dir, policy_dir)
    try:
        table = read_cases(cases)
    except CaseError as e:
        raise click.ClickException(str(e)) from e
    failures = run_cases(decider, table)
    for f in failures:
        click.echo(f"FAIL {f}")
    click.echo(f"{len(table) - len({f.split(':')[0] for f in failures})}/{len(table)} cases pass "
               f"(policy {decider.policy.version})")
    if failures:
        sys.exit(1)

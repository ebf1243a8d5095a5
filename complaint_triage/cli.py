"""The command line: a thin layer over the library; errors become messages here and nowhere deeper."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
from pydantic import ValidationError

from complaint_triage.contract import Complaint, describe_errors
from complaint_triage.triage.corpus import CORPUS_DIR, CorpusError, load_corpus

DECIDE_CHUNK = 256


def _default_model_dir() -> Path:
    from complaint_triage.triage.analyzer import default_model_dir

    return default_model_dir()


@click.group()
@click.version_option(package_name="complaint-triage")
def main() -> None:
    """Triage customer complaints in Chinese or English: category, severity, signals and a handling decision."""


@main.command()
@click.option("--corpus", "corpus_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=CORPUS_DIR, show_default=True, help="Directory of authored *.jsonl corpus files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("model"),
              show_default=True, help="Where to write model.json, model.npz and model_card.json.")
@click.option("--replace-shipped", is_flag=True,
              help="Allow --out to be the model shipped inside the package (for maintainers cutting a release).")
@click.option("--cv", "cv_folds", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Cross-validation folds for the model card (0 skips). With --with-feedback, on the "
                   "authored corpus only: repeated corrections would sit in both train and test folds.")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--with-feedback", "feedback_url", metavar="DATABASE_URL", default=None,
              help="Also train on agents' corrections stored by the service at this SQLAlchemy URL "
                   "(e.g. sqlite:///triage.db). Fails if it holds no category/severity corrections.")
@click.option("--feedback-weight", type=click.IntRange(min=1), default=None, metavar="N",
              help="Repeat each correction N times (default 3): a few hundred agent corrections would "
                   "otherwise be drowned by the ~5,800 authored items.")
def train(corpus_dir: Path, out_dir: Path, replace_shipped: bool, cv_folds: int, seed: int, quiet: bool,
          feedback_url: str | None, feedback_weight: int | None) -> None:
    """Train the category and severity models from the corpus, and optionally agents' corrections.

    Example: complaint-triage train --out /tmp/model --cv 0 --with-feedback sqlite:///triage.db
    """
    from complaint_triage.triage.model import Hyperparams
    from complaint_triage.triage.train import train as run_train

    if feedback_weight is not None and feedback_url is None:
        raise click.UsageError("--feedback-weight needs --with-feedback DATABASE_URL")
    try:
        items = load_corpus(corpus_dir)
    except CorpusError as e:
        raise click.ClickException(str(e)) from e
    from complaint_triage.models import SHIPPED_MODEL_DIR

    if out_dir.resolve() == SHIPPED_MODEL_DIR and not replace_shipped:
        raise click.UsageError(f"--out {out_dir} is the model shipped with the package; write elsewhere, or add "
                               "--replace-shipped if you mean to replace it")
    hp = Hyperparams(seed=seed)
    if feedback_url is None:
        model, card = run_train(items, hp=hp, cv_folds=cv_folds, progress=not quiet)
    else:
        from complaint_triage.service.feedback import DEFAULT_WEIGHT

        weight = feedback_weight or DEFAULT_WEIGHT
        fb = _read_feedback(feedback_url)
        summary = fb.summary
        skipped = f"{summary.skipped} skipped: labels outside the contract" if summary.skipped else ""
        if not fb.rows:
            raise click.ClickException(
                f"{summary.database} holds no agent corrections that set a category or severity"
                f"{f' ({skipped})' if skipped else ''}; training would only reproduce the corpus model, so "
                "nothing was written. Drop --with-feedback to train on the corpus alone.")
        per_lang = ", ".join(f"{lg} {n}" for lg, n in summary.items.items())
        click.echo(f"using {summary.total} agent corrections ({per_lang}; {summary.category_changed} changed "
                   f"the category, {summary.severity_changed} the severity"
                   f"{f'; {skipped}' if skipped else ''}), each repeated {weight}x")
        model, card = run_train(items + fb.corpus_items(weight), hp=hp, cv_folds=cv_folds, progress=not quiet,
                                cv_items=items)
        card["cross_validation"]["data"] = "authored corpus only"
        card["feedback"] = {"database": summary.database, "items": summary.items, "weight": weight,
                            "category_changed": summary.category_changed,
                            "severity_changed": summary.severity_changed}
    card = model.save(out_dir, card)
    size = sum(a["bytes"] for a in card["artifacts"].values())
    click.echo(f"wrote {out_dir} ({size / 1e6:.1f} MB), version {card['version']}")
    for lang, s in card["cross_validation"]["scores"].items():
        click.echo(f"  {lang}: {cv_folds}-fold CV category macro-F1 {s['category_macro_f1']:.3f}, severity macro-F1 "
                   f"{s['severity_macro_f1']:.3f}, critical recall {s['critical_recall']:.3f}")


def _read_feedback(url: str):
    from complaint_triage.service.feedback import FeedbackError, read_feedback

    try:
        return read_feedback(url)
    except FeedbackError as e:
        raise click.ClickException(str(e)) from e


@main.command()
@click.argument("data", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON lines of {id, category, severity} joined to DATA by id.")
@click.option("--feedback", "feedback_url", metavar="DATABASE_URL", default=None,
              help="Evaluate on agents' corrections in the service's database instead of DATA. Scores on "
                   "corrections a model was trained on (train --with-feedback) are optimistic.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--compare", "compare_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="OTHER_MODEL_DIR",
              help="Also evaluate this model on the same rows; print before (--model-dir) and after (this) "
                   "per language: category and severity macro-F1, critical recall, and the deltas.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--record", default=None, metavar="NAME",
              help="Also store the scores in the model card under evaluations.NAME (with --compare, each "
                   "model's own scores in its own card).")
def evaluate(data: Path | None, labels: Path | None, feedback_url: str | None, model_dir: Path | None,
             compare_dir: Path | None, as_json: bool, record: str | None) -> None:
    """Per-class precision/recall/F1 and confusion matrices per language.

    Example: complaint-triage evaluate ../shared/realworld/texts.jsonl --labels ../shared/realworld/labels_dev.jsonl

    Example: complaint-triage evaluate --feedback sqlite:///triage.db --compare /tmp/retrained
    """
    from complaint_triage.triage.analyzer import Triage
    from complaint_triage.triage.evaluate import EvalInputError, EvalRow, format_report, read_eval_rows
    from complaint_triage.triage.evaluate import evaluate as run_eval
    from complaint_triage.triage.model import CARD_NAME, ModelIntegrityError, read_card, write_card

    if (data is None) == (feedback_url is None):
        raise click.UsageError("give either DATA (a JSON lines file) or --feedback DATABASE_URL"
                               + (", not both" if data is not None else ""))
    if labels is not None and data is None:
        raise click.UsageError("--labels joins labels to DATA; --feedback rows carry their own")
    model_dir = model_dir or _default_model_dir()
    try:
        if data is not None:
            rows = read_eval_rows(data, labels)
            source = data.name
        else:
            fb = _read_feedback(feedback_url)  # type: ignore[arg-type]
            if not fb.rows:
                raise click.ClickException(f"{fb.summary.database} holds no agent corrections that set a "
                                           "category or severity: nothing to evaluate on")
            rows = [EvalRow(id=r.complaint_id, text=r.text, category=r.category, severity=r.severity)
                    for r in fb.rows]
            source = f"feedback:{fb.summary.database}"
        models = [(model_dir, Triage(model_dir=model_dir))]
        if compare_dir is not None:
            models.append((compare_dir, Triage(model_dir=compare_dir)))
    except (EvalInputError, ModelIntegrityError) as e:
        raise click.ClickException(str(e)) from e
    reports = []
    for _, triage_ in models:
        report = run_eval(triage_, rows)
        report["data"] = source
        report["labels"] = labels.name if labels else None
        reports.append(report)
    if compare_dir is None:
        report = reports[0]
        click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_report(report))
    else:
        from complaint_triage.service.feedback import compare_reports, format_comparison

        deltas = compare_reports(*reports)
        if as_json:
            click.echo(json.dumps({"data": source, "labels": reports[0]["labels"], "before": reports[0],
                                   "after": reports[1], "delta": deltas}, indent=2, ensure_ascii=False))
        else:
            click.echo(format_comparison(*reports, deltas, (str(model_dir), str(compare_dir))))
    if record:
        for (directory, _), report in zip(models, reports):
            card = read_card(directory)
            card.setdefault("evaluations", {})[record] = report
            write_card(directory, card)
            click.echo(f"recorded as evaluations.{record} in {directory / CARD_NAME}", err=True)


@main.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON lines of {id, category} joined to DATA by id.")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="The model to calibrate; it is changed in place (its card records how).")
def calibrate(data: Path, labels: Path | None, model_dir: Path) -> None:
    """Fit one confidence temperature per language on labelled real complaints, so a stated confidence is the
    accuracy one gets on real text. Only these scalars are chosen on the labels.

    Example: complaint-triage calibrate texts.jsonl --labels labels_dev.jsonl --model-dir model/
    """
    from complaint_triage.models import SHIPPED_MODEL_DIR
    from complaint_triage.triage.calibration import calibrate_model
    from complaint_triage.triage.evaluate import EvalInputError, read_eval_rows

    if model_dir.resolve() == SHIPPED_MODEL_DIR:
        raise click.UsageError("calibrate a copy, not the model shipped with the package")
    try:
        rows = read_eval_rows(data, labels)
    except EvalInputError as e:
        raise click.ClickException(str(e)) from e
    result = calibrate_model(model_dir, rows, f"{data.name} + {labels.name if labels else 'inline labels'}")
    for lang, r in result["languages"].items():
        click.echo(f"{lang}: temperature {r['category_temperature']:.2f} on {r['n']} complaints, "
                   f"ECE {r['ece_before']:.3f} → {r['ece_after']:.3f}")


def _numbered_lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(stream, 1):
        if line.strip():
            yield n, line


def _load_decider(model_dir: Path | None, policy_dir: Path | None):
    from complaint_triage.pipeline import Decider
    from complaint_triage.rules.policy import PolicyError
    from complaint_triage.triage.model import ModelIntegrityError

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
            click.echo(f"line {n}: {describe_errors(e)}", err=True)
            continue
        if len(pending) >= DECIDE_CHUNK:
            flush()
    flush()
    if failed:
        click.echo(f"{failed} line(s) failed", err=True)
        sys.exit(1)


def _register_commands() -> None:
    """Commands with heavy imports live in their own modules; registering them here keeps --help fast."""
    from complaint_triage.batch.cli import batch
    from complaint_triage.batch.cli_report import report
    from complaint_triage.service.cli_serve import serve
    from complaint_triage.service.cli_sweep import sweep
    from complaint_triage.service.console.cli_users import users

    for command in (serve, batch, report, users, sweep):
        main.add_command(command)


_register_commands()


@main.group()
def rules() -> None:
    """Tools for policy owners."""


@rules.command("test")
@click.argument("cases", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", "policy_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def rules_test(cases: Path | None, policy_dir: Path | None, model_dir: Path | None) -> None:
    """Run a table of cases against a policy and report every mismatch.

    CASES is JSON lines of {"name": ..., "input": {complaint}, "expect": {"department": "billing",
    "escalation.level": 2, "refund.eligibility": "eligible", "also_notify": ["legal"], ...}}. Give the category
    and severity in the input to test the policy alone, independent of the model. Without CASES, the default
    policy's own table runs (shipped as rules/examples/cases.jsonl: copy it to start yours).

    Example: complaint-triage rules test --policy my-policy/
    """
    from complaint_triage.policy_cases import EXAMPLE_CASES, CaseError, read_cases, run_cases

    cases = cases or EXAMPLE_CASES

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


"""``complaint-triage report``: the weekly/monthly analysis of a decisions file, as Markdown plus charts.

Only click is imported at module level: the command is registered on the main CLI, and ``--help`` should not
pay for pydantic models or matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from complaint_triage.batch.report import Period

STDIN = "-"
STDIN_OUT_DIR = "decisions-report"


@click.command()
@click.argument("decisions", metavar="DECISIONS")
@click.option("--period", type=click.Choice(["week", "month"]), default="week", show_default=True,
              help="Bucket size: ISO weeks (Monday to Sunday, UTC) or calendar months.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Output directory (default: <DECISIONS stem>-report/ next to the file; ./{STDIN_OUT_DIR}/ "
                   "for stdin).")
def report(decisions: str, period: Period, out_dir: Path | None) -> None:
    """Counts per week or month by category, severity, department, escalation and refund, the top signals,
    and what stands out, from the decision JSON lines a batch run wrote (DECISIONS, or - for stdin).

    Example: complaint-triage report out/decisions.jsonl --period month -o out/march
    """
    from complaint_triage.batch.report import aggregate, write_report

    if decisions == STDIN:
        source = "stdin"
        out_dir = out_dir or Path(STDIN_OUT_DIR)
        with click.open_file(STDIN, encoding="utf-8-sig", errors="replace") as f:
            result = aggregate(f, period)
    else:
        path = Path(decisions)
        if not path.exists():
            raise click.ClickException(f"{path}: no such file")
        if path.is_dir():
            raise click.ClickException(f"{path} is a directory; give the decisions JSON-lines file")
        source = str(path)
        out_dir = out_dir or path.with_name(f"{path.stem}-report")
        try:
            with path.open(encoding="utf-8-sig", errors="replace") as f:
                result = aggregate(f, period)
        except OSError as e:
            raise click.ClickException(f"{path}: {e.strerror or e}") from e

    if result.rows == 0:
        if result.skipped == 0:
            raise click.ClickException(f"{source} is empty: no decision lines to report on")
        first = "; ".join(f"line {s.line}: {s.reason}" for s in result.skipped_lines[:3])
        raise click.ClickException(f"{source} has no valid decision lines ({result.skipped} skipped; {first})")
    try:
        files = write_report(result, out_dir, source)
    except OSError as e:
        raise click.ClickException(f"cannot write the report to {out_dir}: {e.strerror or e}") from e

    click.echo(f"wrote {files.markdown} and {len(files.charts)} charts in {out_dir}")
    n_periods = len(result.periods)
    click.echo(f"  {result.rows} complaints in {n_periods} {period}{'' if n_periods == 1 else 's'}, "
               f"{result.totals.needs_review} needing review, {result.at_level(2)} at escalation level ≥ 2, "
               f"{result.at_level(3)} crisis; {result.skipped} line{'' if result.skipped == 1 else 's'} skipped")
    if result.skipped:
        listed = ", ".join(str(s.line) for s in result.skipped_lines)
        more = " …" if result.skipped > len(result.skipped_lines) else ""
        click.echo(f"skipped lines (not valid decisions): {listed}{more}; see the report for the reasons", err=True)

"""``complaint-triage batch``: the command-line face of ``batch.run``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from complaint_triage.models import MODEL_DIR_ENV


def _usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@click.command()
@click.argument("source", metavar="IN")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Decisions: JSON lines, or CSV when the name ends in .csv.")
@click.option("--errors", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rejected records with their line numbers [default: OUT with .errors.jsonl].")
@click.option("--format", "in_format", type=click.Choice(["csv", "jsonl"]), default=None,
              help="Input format [default: from IN's extension; JSON lines for stdin].")
@click.option("--encoding", default=None, metavar="CODEC",
              help="The input's encoding, e.g. gb18030, cp1252 [default: a byte-order mark, else GBK/GB18030 "
                   "when the bytes say so, else UTF-8].")
@click.option("--delimiter", default=None, metavar="CHAR",
              help="CSV delimiter, e.g. ';' or '\\t' [default: whichever of , ; tab | splits the header into the "
                   "most columns; tab for .tsv on a tie].")
@click.option("--max-reject-rate", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Stop when this share of the first 200 records is rejected (1: go on; a run that rejects "
                   "every record still fails).")
@click.option("--out-format", type=click.Choice(["jsonl", "csv"]), default=None)
@click.option("--text-col", default=None, help="The column holding the complaint text [default: text].")
@click.option("--id-col", default=None, help="The column holding the complaint id [default: id; else line-N].")
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
              help="Map any other column to a complaint field, e.g. --map date=received_at. Repeatable.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes [default: all cores].")
@click.option("--engine", "engine_name", type=click.Choice(["processes", "dask"]), default="processes",
              show_default=True)
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler, e.g. tcp://10.0.0.5:8786 [default: start a local cluster].")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=None,
              help="Records per task [default: 256; 2,000 on Dask].")
@click.option("--resume", is_flag=True, help="Continue a run that stopped (crash, kill -9, Ctrl-C).")
@click.option("--overwrite", is_flag=True, help="Start again even if OUT holds an unfinished run.")
@click.option("--progress/--no-progress", default=None, help="[default: a progress bar on a terminal]")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None)
@click.option("--policy", "policy_dir", type=click.Path(exists=True, file_okay=False), default=None)
def batch(source: str, out: Path, errors: Path | None, in_format: str | None, encoding: str | None,
          delimiter: str | None, max_reject_rate: float, out_format: str | None, text_col: str | None, id_col: str | None, mappings: tuple[str, ...], workers: int | None,
          engine_name: str, scheduler: str | None, chunk_size: int | None, resume: bool, overwrite: bool,
          progress: bool | None, model_dir: str | None, policy_dir: str | None) -> None:
    """Triage a backlog: IN is CSV with a header row or JSON lines (``-`` reads stdin).

    Columns named like the complaint fields (text, id, received_at, language, amount, prior_complaints, ...)
    are used as they are; others are ignored and listed in the summary. Every record ends up either in OUT
    (in input order, with its id) or in the errors file (with its line number and the reason); a record
    decided without a bad optional field, or with its text cut to 20,000 characters, is in both (a warning
    in the errors file, needs_review in OUT). A run that rejects most of its first 200 records stops.

    \b
    Examples:
      complaint-triage batch backlog.csv -o decisions.jsonl --text-col body --id-col ticket
      complaint-triage batch backlog.csv -o decisions.jsonl --resume        # after a crash
      complaint-triage batch big.jsonl -o out.csv --engine dask --scheduler tcp://10.0.0.5:8786
    """
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1 or delimiter in "\"\r\n":
            raise click.UsageError(f"--delimiter {delimiter!r}: one character other than a quote or a newline")
    from complaint_triage.batch.columns import ColumnMap, MappingError
    from complaint_triage.batch.engines import EngineError
    from complaint_triage.batch.formats import output_format
    from complaint_triage.batch.run import BatchError, BatchOptions, run
    from complaint_triage.batch.source import SourceError, input_format

    try:
        opts = BatchOptions(
            input=source, output=out, errors=errors,
            input_format=input_format(source, in_format),  # type: ignore[arg-type]
            output_format=output_format(str(out), out_format),  # type: ignore[arg-type]
            columns=ColumnMap.build(text_col, id_col, mappings),
            workers=workers or _usable_cores(), engine=engine_name,  # type: ignore[arg-type]
            scheduler=scheduler, chunk_size=chunk_size or (2000 if engine_name == "dask" else 256),
            resume=resume, overwrite=overwrite,
            progress=sys.stderr.isatty() if progress is None else progress,
            # $TRIAGE_MODEL_DIR is read here, once, so workers (and their per-process cache) get the path itself.
            model_dir=str(Path(model_dir).resolve()) if model_dir else os.environ.get(MODEL_DIR_ENV) or None,
            policy_dir=str(Path(policy_dir).resolve()) if policy_dir else None,
            encoding=encoding, delimiter=delimiter, max_reject_rate=max_reject_rate,
        )
        summary = run(opts)
    except (SourceError, MappingError, BatchError, EngineError) as e:
        raise click.ClickException(" ".join(str(e).split())) from e
    except (OSError, UnicodeError) as e:  # anything not named above: still one line, never a traceback
        raise click.ClickException(f"{type(e).__name__}: {' '.join(str(e).split())}") from e
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; continue with: --resume (progress kept in {out}.progress.json)", err=True)
        sys.exit(130)
    resumed = f" (resumed after row {summary.resumed_from})" if summary.resumed_from else ""
    warned = f" ({summary.warnings:,} with a warning)" if summary.warnings else ""
    click.echo(f"{summary.read:,} rows read{resumed}: {summary.decided:,} decided{warned} → {summary.output}, "
               f"{summary.rejected:,} rejected → {summary.errors}; {summary.rate:,.0f} rows/s "
               f"in {summary.seconds:.1f} s", err=True)
    if summary.ignored_columns:
        click.echo(f"ignored columns (not complaint fields): {', '.join(summary.ignored_columns)}", err=True)

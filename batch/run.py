"""A batch run: stream records in, decide them in chunks on an engine, write results in input order.

Memory stays flat because at most ``window`` chunks are in flight: the reader waits for the oldest chunk
before reading more. Results are written in input order (a chunk waits for the ones before it), which is what
makes a resume point a single number.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO

from tqdm import tqdm

from complaint_triage.batch.checkpoint import Checkpoint, CheckpointError, Job, checkpoint_path
from complaint_triage.batch.columns import ColumnMap
from complaint_triage.batch.engines import EngineName, engine
from complaint_triage.batch.formats import OutputFormat, csv_header
from complaint_triage.batch.source import STDIN, InputFormat, RecordReader, count_records, delimiter_for, open_text
from complaint_triage.batch.work import Chunk, ChunkResult, Item, WorkerSpec, run_chunk

CHECKPOINT_EVERY_S = 1.0


class BatchError(RuntimeError):
    """The run cannot start or continue; the message says why and what to do."""


@dataclass
class BatchOptions:
    input: str
    output: Path
    input_format: InputFormat
    output_format: OutputFormat
    columns: ColumnMap = field(default_factory=ColumnMap)
    errors: Path | None = None
    workers: int = 1
    engine: EngineName = "processes"
    scheduler: str | None = None
    chunk_size: int = 256
    resume: bool = False
    overwrite: bool = False
    progress: bool = False
    model_dir: str | None = None
    policy_dir: str | None = None

    @property
    def errors_path(self) -> Path:
        return self.errors or self.output.with_suffix(".errors.jsonl")


@dataclass
class Summary:
    read: int
    decided: int
    rejected: int
    seconds: float
    resumed_from: int
    output: Path
    errors: Path
    ignored_columns: list[str]

    @property
    def rate(self) -> float:
        return (self.read - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def _job(o: BatchOptions) -> Job:
    return Job(input=o.input if o.input == STDIN else str(Path(o.input).resolve()), input_format=o.input_format,
               output_format=o.output_format, columns=o.columns.renames, errors=str(o.errors_path.resolve()))


def _start(o: BatchOptions) -> Checkpoint:
    """Decide between a fresh run and a resumed one, and bring the output files to the matching state."""
    cp_path = checkpoint_path(o.output)
    job = _job(o)
    if o.resume:
        try:
            cp = Checkpoint.load(cp_path)
        except CheckpointError as e:
            raise BatchError(str(e)) from e
        if cp.job != job:
            raise BatchError(f"{cp_path} belongs to a different job ({cp.job.input}); resume with the same "
                             "input, output, errors and column options, or start again with --overwrite")
        for path, size in ((o.output, cp.out_bytes), (o.errors_path, cp.errors_bytes)):
            if not path.exists() or path.stat().st_size < size:
                raise BatchError(f"{path} is shorter than the progress file says; it was changed since the run "
                                 "stopped: start again with --overwrite")
            os.truncate(path, size)
        return cp
    if cp_path.exists() and not o.overwrite:
        try:
            previous = Checkpoint.load(cp_path)
        except CheckpointError:
            previous = None
        if previous is None or not previous.done:
            raise BatchError(f"{o.output} holds an unfinished run; continue it with --resume, or start again "
                             "with --overwrite")
    o.output.parent.mkdir(parents=True, exist_ok=True)
    o.errors_path.parent.mkdir(parents=True, exist_ok=True)
    with open(o.output, "w", encoding="utf-8", newline="") as f:
        if o.output_format == "csv":
            f.write(csv_header())
    open(o.errors_path, "w").close()
    cp = Checkpoint(job=job, out_bytes=o.output.stat().st_size)
    cp.save(cp_path)
    return cp


def _chunks(records: Iterable, cmap: ColumnMap, skip: int, size: int) -> Iterator[Chunk]:
    items = (Item(r.row, r.line, cmap.apply(r.fields) if r.fields is not None else None, r.error)
             for r in records if r.row > skip)
    seq = 0
    while batch := list(islice(items, size)):
        yield Chunk(seq, batch)
        seq += 1


def _sync(f: IO[str]) -> None:
    f.flush()
    os.fsync(f.fileno())


def run(o: BatchOptions) -> Summary:
    total = count_records(o.input, o.input_format, delimiter_for(o.input)) if o.progress else None
    stream = open_text(o.input)
    try:
        reader = RecordReader(stream, o.input_format, delimiter_for(o.input))
        if reader.columns is not None:
            o.columns.check_header(reader.columns)
        cp = _start(o)
        o.columns.ignored.update(cp.ignored_columns)
        if cp.done:
            return _summary(o, cp, cp.rows_done, 0.0)
        return _run(o, reader, cp, total)
    finally:
        if stream is not sys.stdin:
            stream.close()


def _run(o: BatchOptions, reader: RecordReader, cp: Checkpoint, total: int | None) -> Summary:
    cp_path = checkpoint_path(o.output)
    resumed_from = cp.rows_done
    spec = WorkerSpec(model_dir=o.model_dir, policy_dir=o.policy_dir, out_format=o.output_format)
    window = max(2, 2 * o.workers + 1)
    started = time.perf_counter()
    last_save = started
    pending: deque[Future] = deque()
    with tqdm(total=total, initial=resumed_from, disable=not o.progress, unit="row", desc="triage",
              dynamic_ncols=True, file=sys.stderr, smoothing=0.1) as bar, \
            open(o.output, "a", encoding="utf-8", newline="") as out, \
            open(o.errors_path, "a", encoding="utf-8") as err, \
            engine(o.engine, spec, o.workers, o.scheduler) as ex:

        consistent = True

        def write(result: ChunkResult) -> None:
            nonlocal last_save, consistent
            consistent = False
            out.writelines(result.lines)
            err.writelines(e.to_json() for e in result.errors)
            cp.rows_done = result.last_row
            cp.decided += len(result.lines)
            cp.rejected += len(result.errors)
            bar.update(len(result.lines) + len(result.errors))
            consistent = True
            now = time.perf_counter()
            if now - last_save >= CHECKPOINT_EVERY_S:
                save()
                last_save = now

        def save() -> None:
            _sync(out)
            _sync(err)
            cp.out_bytes, cp.errors_bytes = os.fstat(out.fileno()).st_size, os.fstat(err.fileno()).st_size
            cp.ignored_columns = sorted(o.columns.ignored)
            cp.save(cp_path)

        try:
            for chunk in _chunks(reader, o.columns, cp.rows_done, o.chunk_size):
                pending.append(ex.submit(run_chunk, spec, chunk))
                if len(pending) >= window:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
        except BaseException:
            # Interrupted or a worker died: keep what is complete so --resume starts from here.
            for f in pending:
                f.cancel()
            if consistent:
                save()
            raise
        cp.done = True
        save()
    return _summary(o, cp, resumed_from, time.perf_counter() - started)


def _summary(o: BatchOptions, cp: Checkpoint, resumed_from: int, seconds: float) -> Summary:
    return Summary(read=cp.rows_done, decided=cp.decided, rejected=cp.rejected, seconds=seconds,
                   resumed_from=resumed_from, output=o.output, errors=o.errors_path,
                   ignored_columns=sorted(o.columns.ignored))

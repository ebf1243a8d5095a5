"""A batch run: stream records in, decide them in chunks on an engine, write results in input order.

Memory stays flat because at most ``window`` chunks are in flight: the reader waits for the oldest chunk
before reading more. Results are written in input order (a chunk waits for the ones before it), which is what
makes a resume point a single number.

Before anything is opened for writing, the input, output, errors and progress paths are checked to be four
different files (``check_paths``). A run whose first ``REJECT_WINDOW`` records are mostly rejected stops
there, and one that rejects every record fails at the end: both name the likely cause (encoding, delimiter,
text column) instead of exiting 0 with an errors file as long as the input.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections import Counter, deque
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
from complaint_triage.batch.source import (
    STDIN,
    Decoding,
    InputFormat,
    RecordReader,
    count_records,
    open_input,
)
from complaint_triage.batch.work import Chunk, ChunkResult, Item, Rejected, WorkerSpec, run_chunk

CHECKPOINT_EVERY_S = 1.0
REJECT_WINDOW = 200


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
    encoding: str | None = None
    delimiter: str | None = None
    # Stop when at least this share of the first REJECT_WINDOW records is rejected (1.0: only when all are).
    max_reject_rate: float = 0.5

    @property
    def errors_path(self) -> Path:
        return self.errors or self.output.with_suffix(".errors.jsonl")


@dataclass
class Summary:
    read: int
    decided: int
    rejected: int
    warnings: int
    seconds: float
    resumed_from: int
    output: Path
    errors: Path
    ignored_columns: list[str]

    @property
    def rate(self) -> float:
        return (self.read - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def _job(o: BatchOptions, decoding: Decoding) -> Job:
    return Job(input=o.input if o.input == STDIN else str(Path(o.input).resolve()), input_format=o.input_format,
               output_format=o.output_format, columns=o.columns.renames, errors=str(o.errors_path.resolve()),
               encoding=decoding.encoding, delimiter=decoding.delimiter if o.input_format == "csv" else None)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stdin_id() -> tuple[int, int] | None:
    """The file behind a redirected stdin (``batch - -o x.jsonl < x.jsonl``), if it is one."""
    try:
        st = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stdin)
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_paths(o: BatchOptions) -> None:
    """Refuse, before anything is opened for writing, when two of input, output, errors file and progress file
    are the same file: by resolved path (``./sub/../x.jsonl``, symbolic links) or by device and inode (hard
    links, a redirected stdin). Opening OUT for writing would otherwise empty the input it was about to read.
    OUT and the errors file must also be regular files (or not exist yet): a run truncates them to resume and
    keeps its progress file beside OUT, which a device such as ``/dev/full`` does not allow."""
    named = [("OUT", o.output), ("--errors", o.errors_path), ("progress file", checkpoint_path(o.output))]
    for name, path in named[:2]:
        if path.exists() and not path.is_file():
            raise BatchError(f"{name} {path} is not a regular file; write to a file (a run truncates it to resume "
                             "and keeps a progress file beside it)")
    ids: list[tuple[str, Path | str, Path | None, tuple[int, int] | None]] = []
    if o.input == STDIN:
        ids.append(("IN", "stdin", None, _stdin_id()))
    else:
        ids.append(("IN", o.input, Path(o.input).resolve(), _file_id(Path(o.input))))
    ids += [(name, path, path.resolve(), _file_id(path)) for name, path in named]
    for i, (name_a, shown_a, resolved_a, id_a) in enumerate(ids):
        for name_b, shown_b, resolved_b, id_b in ids[i + 1:]:
            if (resolved_a is not None and resolved_a == resolved_b) or (id_a is not None and id_a == id_b):
                raise BatchError(f"{name_a} ({shown_a}) and {name_b} ({shown_b}) are the same file; nothing was "
                                 "written: give different paths")


def _start(o: BatchOptions, decoding: Decoding) -> Checkpoint:
    """Decide between a fresh run and a resumed one, and bring the output files to the matching state."""
    cp_path = checkpoint_path(o.output)
    job = _job(o, decoding)
    if o.resume:
        try:
            cp = Checkpoint.load(cp_path)
        except CheckpointError as e:
            raise BatchError(str(e)) from e
        if not cp.job.matches(job):
            raise BatchError(f"{cp_path} belongs to a different job ({cp.job.input}); resume with the same "
                             "input, output, errors, column, encoding and delimiter options, or start again "
                             "with --overwrite")
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
    check_paths(o)
    try:
        stream, decoding = open_input(o.input, o.input_format, o.encoding, o.delimiter)
    except OSError as e:
        raise BatchError(_os_message(e, f"cannot read {o.input}")) from e
    try:
        total = count_records(o.input, o.input_format, decoding) if o.progress else None
        reader = RecordReader(stream, o.input_format, decoding)
        if reader.columns is not None:
            o.columns.check_header(reader.columns)
        cp = _start(o, decoding)
        o.columns.ignored.update(cp.ignored_columns)
        if cp.done:
            return _summary(o, cp, cp.rows_done, 0.0)
        return _run(o, reader, cp, total)
    except OSError as e:  # what the writing steps below did not name more precisely
        raise BatchError(_os_message(e, f"reading {o.input} or writing {o.output}")) from e
    finally:
        stream.close()


def _os_message(e: OSError, doing: str) -> str:
    if e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    return f"{doing}: {e.strerror or e}" + (" (the disk is full)" if e.errno == errno.ENOSPC else "")


def _run(o: BatchOptions, reader: RecordReader, cp: Checkpoint, total: int | None) -> Summary:
    cp_path = checkpoint_path(o.output)
    resumed_from = cp.rows_done
    spec = WorkerSpec(model_dir=o.model_dir, policy_dir=o.policy_dir, out_format=o.output_format)
    window = max(2, 2 * o.workers + 1)
    rejects = _RejectWatch(o, reader, resumed_from)
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
            rejected = sum(1 for e in result.errors if e.level == "error")
            try:
                out.writelines(result.lines)
            except OSError as e:
                raise WriteFailed(_os_message(e, f"cannot write {o.output}")) from e
            try:
                err.writelines(e.to_json() for e in result.errors)
            except OSError as e:
                raise WriteFailed(_os_message(e, f"cannot write {o.errors_path}")) from e
            cp.rows_done = result.last_row
            cp.decided += len(result.lines)
            cp.rejected += rejected
            cp.warnings += len(result.errors) - rejected
            bar.update(len(result.lines) + rejected)
            consistent = True
            rejects.add(result)
            now = time.perf_counter()
            if now - last_save >= CHECKPOINT_EVERY_S:
                save()
                last_save = now

        def save() -> None:
            for f, path in ((out, o.output), (err, o.errors_path)):
                try:
                    _sync(f)
                except OSError as e:
                    raise WriteFailed(_os_message(e, f"cannot write {path}")) from e
            cp.out_bytes, cp.errors_bytes = os.fstat(out.fileno()).st_size, os.fstat(err.fileno()).st_size
            cp.ignored_columns = sorted(o.columns.ignored)
            try:
                cp.save(cp_path)
            except OSError as e:
                raise WriteFailed(_os_message(e, f"cannot write {cp_path}")) from e

        try:
            for chunk in _chunks(reader, o.columns, cp.rows_done, o.chunk_size):
                pending.append(ex.submit(run_chunk, spec, chunk))
                if len(pending) >= window:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
            rejects.check(cp, final=True)
        except BaseException as exc:
            # Interrupted, stopped or a worker died: keep what is complete so --resume starts from here.
            for f in pending:
                f.cancel()
            if consistent and not isinstance(exc, OSError | WriteFailed):
                cp.done = isinstance(exc, AllRejected)
                try:
                    save()
                except WriteFailed:
                    pass  # the original error says more
            raise
        cp.done = True
        save()
    return _summary(o, cp, resumed_from, time.perf_counter() - started)


class AllRejected(BatchError):
    """Every record of a finished run was rejected; the run is complete, and wrong."""


class WriteFailed(BatchError):
    """Writing OUT, the errors file or the progress file failed (disk full, permissions); the last progress
    file saved before it still describes a consistent state to resume from."""


class _RejectWatch:
    """Counts the rejections among the first ``REJECT_WINDOW`` records of this run and stops the run when they
    reach ``max_reject_rate`` of them, with the likely cause; at the end, a run that rejected everything
    fails. Cheap: one pass over each chunk's (few) errors, until the window is full."""

    def __init__(self, o: BatchOptions, reader: RecordReader, first_row: int):
        self.o = o
        self.reader = reader
        self.end = first_row + REJECT_WINDOW
        self.first_row = first_row
        self.last_row = first_row
        self.rejected = 0
        self.reasons: Counter[str] = Counter()
        self.checked = False

    def add(self, result: ChunkResult) -> None:
        if self.checked:
            return
        for e in result.errors:
            if e.level == "error" and e.row <= self.end:
                self.rejected += 1
                self.reasons[_reason_kind(e)] += 1
        self.last_row = result.last_row
        if result.last_row >= self.end:
            self.checked = True
            if self.o.max_reject_rate < 1.0 and self.rejected >= self.o.max_reject_rate * REJECT_WINDOW:
                raise BatchError(
                    f"stopped after {result.last_row:,} records: {self.rejected} of the first {REJECT_WINDOW} "
                    f"were rejected ({self._top()}). {self._cause()} The rejected records are in "
                    f"{self.o.errors_path}; fix the options and start again with --overwrite "
                    "(or --max-reject-rate 1 to go on regardless)")

    def check(self, cp: Checkpoint, final: bool) -> None:
        if final and cp.decided == 0 and cp.rejected > 0:
            if not self.reasons:  # a resumed run past the window: no reasons counted in this process
                self.reasons["(see the errors file)"] = cp.rejected
            raise AllRejected(f"all {cp.rejected:,} records were rejected ({self._top()}). {self._cause()} "
                              f"The rejected records are in {self.o.errors_path}")

    def _top(self) -> str:
        (reason, n), *_ = self.reasons.most_common(1) or [("?", 0)]
        return f"most often: {reason} ×{n}"

    def _cause(self) -> str:
        reason = self.reasons.most_common(1)[0][0] if self.reasons else ""
        d = self.reader.decoding
        header = self.reader.columns
        if reason.startswith("not ") and reason.endswith(" text"):
            return (f"Likely cause: the file is not {d.name} (encoding: {d.how}); give --encoding, e.g. "
                    "--encoding gb18030 (Chinese Excel) or --encoding cp1252 (Western European Excel).")
        one_column = header is not None and len(header) == 1 and any(c in header[0] for c in ",;\t|")
        if one_column or reason.startswith(("has ", "unreadable CSV", "broken quote")):
            return (f"Likely cause: a wrong delimiter (the file was read with {d.delimiter!r}, which gives "
                    f"{len(header or [])} columns); give --delimiter, e.g. --delimiter ';'.")
        if reason in ("text: Field required", "text: text is blank") or reason.startswith("text:"):
            cols = f" (columns: {', '.join(header)})" if header else ""
            return (f"Likely cause: no complaint text where it was looked for; name the text column with "
                    f"--text-col{cols}.")
        if reason.startswith("not valid JSON") or reason.startswith("expected a JSON"):
            return "Likely cause: the input is not JSON lines; give --format csv if it is CSV."
        return "Check --text-col, --map and the values of the mapped columns."


def _reason_kind(e: Rejected) -> str:
    """A reason without the parts that differ per record (columns, positions), so the common one shows."""
    reason = e.reason.split(";")[0]
    for cut in (" at column", " (", ": line"):
        reason = reason.split(cut)[0]
    return reason[:80]


def _summary(o: BatchOptions, cp: Checkpoint, resumed_from: int, seconds: float) -> Summary:
    return Summary(read=cp.rows_done, decided=cp.decided, rejected=cp.rejected, warnings=cp.warnings,
                   seconds=seconds,
                   resumed_from=resumed_from, output=o.output, errors=o.errors_path,
                   ignored_columns=sorted(o.columns.ignored))

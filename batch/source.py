"""Reading a backlog one record at a time, whatever its size: CSV with a header row, or JSON lines.

Every record keeps its position (``row``, counted from 1 over the records) and the line it starts on, so a
rejected record can be found in the original file and a resumed run can skip exactly what was done.
A record that cannot even be read becomes a ``RawRecord`` with an ``error``, never an exception: the caller
decides where it goes, and nothing is dropped on the way.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

InputFormat = Literal["csv", "jsonl"]
STDIN = "-"
_CSV_SUFFIXES = {".csv", ".tsv"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class SourceError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, no header)."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    row: int
    line: int
    fields: dict[str, Any] | None
    error: str | None = None


def input_format(path: str, given: InputFormat | None) -> InputFormat:
    if given:
        return given
    if path == STDIN:
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    raise SourceError(f"cannot tell the format of {path!r} from its extension; give --format csv or jsonl")


def count_records(path: str, fmt: InputFormat, delimiter: str = ",") -> int | None:
    """A total for the progress bar, read ahead of the run (None for stdin or an unreadable file).

    JSON lines: newlines, counted in large blocks. CSV: records, because quoted texts span lines; the C
    parser reads a 100,000-row file in well under a second."""
    if path == STDIN:
        return None
    try:
        if fmt == "jsonl":
            n = 0
            with open(path, "rb") as f:
                while block := f.read(1 << 22):
                    n += block.count(b"\n")
            return n
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            return max(sum(1 for values in csv.reader(f, delimiter=delimiter) if values) - 1, 0)
    except (OSError, csv.Error):
        return None


def open_text(path: str) -> IO[str]:
    if path == STDIN:
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"no such file: {path}")
    return open(p, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _is_utf8(s: str) -> bool:
    """Bytes that are not UTF-8 arrive as lone surrogates (``surrogateescape``); such a record is rejected
    alone instead of stopping the whole file."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RecordReader:
    """Iterates records; for CSV the header is read up front so mapped columns can be checked before work."""

    def __init__(self, stream: IO[str], fmt: InputFormat, delimiter: str = ","):
        self.fmt = fmt
        self.columns: list[str] | None = None
        if fmt == "csv":
            self._csv = csv.reader(stream, delimiter=delimiter, strict=True)
            try:
                header = next(self._csv)
            except StopIteration:
                header = []
            except csv.Error as e:
                raise SourceError(f"line 1: unreadable CSV header ({e})") from e
            self.columns = [h.strip() for h in header]
            if header and not any(self.columns):
                raise SourceError("line 1: the CSV header row is empty")
        self._stream = stream

    def __iter__(self) -> Iterator[RawRecord]:
        if self.fmt == "jsonl":
            return _read_jsonl(self._stream)
        return _read_csv(self._csv, self.columns or [])


def delimiter_for(path: str) -> str:
    return "\t" if Path(path).suffix.lower() == ".tsv" else ","


def _read_jsonl(stream: IO[str]) -> Iterator[RawRecord]:
    row = 0
    line_no = 0
    for line in stream:
        line_no += 1
        if not line.strip():
            continue
        row += 1
        if not _is_utf8(line):
            yield RawRecord(row, line_no, None, "not UTF-8 text")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield RawRecord(row, line_no, None, f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        if not isinstance(value, dict):
            yield RawRecord(row, line_no, None, f"expected a JSON object, got {type(value).__name__}")
            continue
        yield RawRecord(row, line_no, value)


def _read_csv(reader: Any, header: list[str]) -> Iterator[RawRecord]:
    if not header:
        return
    row = 0
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            row += 1
            yield RawRecord(row, start, None, f"unreadable CSV: {e}")
            continue
        if not values or not any(v.strip() for v in values):
            continue
        row += 1
        if not all(_is_utf8(v) for v in values):
            yield RawRecord(row, start, None, "not UTF-8 text")
            continue
        if len(values) != len(header):
            yield RawRecord(row, start, None,
                            f"has {len(values)} fields, the header has {len(header)}")
            continue
        yield RawRecord(row, start, {h: v for h, v in zip(header, values) if v != ""})

"""Reading a backlog one record at a time, whatever its size: CSV with a header row, or JSON lines.

Every record keeps its position (``row``, counted from 1 over the records) and the line it starts on, so a
rejected record can be found in the original file and a resumed run can skip exactly what was done.
A record that cannot even be read becomes a ``RawRecord`` with an ``error``, never an exception: the caller
decides where it goes, and nothing is dropped on the way. Every physical line of the input ends up in a record
that is decided or rejected with its line number (see ``_read_csv`` for broken quotes).

How the bytes are read is settled once, before the first record (``open_input``): the encoding (given, or a
byte-order mark, or GBK/GB18030 recognised by charset-normalizer, else UTF-8) and, for CSV, the delimiter
(given, or the one that splits the header row into the most columns).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

InputFormat = Literal["csv", "jsonl"]
STDIN = "-"
_CSV_SUFFIXES = {".csv", ".tsv"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
SAMPLE_BYTES = 1 << 16
DELIMITERS = (",", ";", "\t", "|")
# What charset-normalizer calls the encodings of Chinese Excel exports; GB18030 decodes all of them.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn"}
_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


class SourceError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, no header)."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    row: int
    line: int
    fields: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decoding:
    """How the input's bytes become records; ``how`` says where the encoding came from (for messages)."""

    encoding: str
    delimiter: str
    how: str

    @property
    def name(self) -> str:
        name = codecs.lookup(self.encoding).name
        return "UTF-8" if name.startswith("utf-8") else name

    @property
    def undecodable(self) -> str:
        """The rejection reason of a record with bytes that are not in the encoding."""
        return f"not {self.name} text"


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


def delimiter_for(path: str) -> str:
    return "\t" if Path(path).suffix.lower() == ".tsv" else ","


def printable(name: str) -> str:
    """A column name with bytes that were not in the encoding (lone surrogates) shown as ``\\xNN``, so it can be
    named in messages and stored in the JSON progress file."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------- encoding and delimiter
def check_encoding(name: str) -> str:
    try:
        codec = codecs.lookup(name)
    except LookupError as e:
        raise SourceError(f"--encoding {name}: unknown encoding (e.g. utf-8, gb18030, cp1252)") from e
    # A UTF-8 byte-order mark is dropped whether the encoding was given or not.
    return "utf-8-sig" if codec.name == "utf-8" else name


def detect_encoding(sample: bytes) -> tuple[str, str]:
    """(encoding, how). A byte-order mark decides; otherwise UTF-8 unless the sample is mostly not UTF-8 and
    charset-normalizer recognises a Chinese national encoding (GBK/GB2312/GB18030, all read as GB18030).

    Only that family is switched to on a guess: a UTF-8 file with a few bad bytes keeps UTF-8 (the bad
    records are rejected one by one), and for anything else a wrong guess would silently garble every text;
    ``--encoding`` is the way to say so, and a run that rejects most rows as undecodable names it."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, "byte-order mark"
    text = sample.decode("utf-8", "surrogateescape")
    bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    if not bad:
        return "utf-8-sig", "default"
    good = sum(1 for ch in text if ch > "\x7f" and not "\udc80" <= ch <= "\udcff")
    if good * 2 >= bad:  # mostly UTF-8: a truncated last character or a few broken records
        return "utf-8-sig", "default"
    from charset_normalizer import from_bytes

    # On short samples GBK and Korean cp949 decode equally cleanly and charset-normalizer may rank cp949 first;
    # this tool reads Chinese and English, so a GB encoding among the cleanest candidates wins.
    matches = list(from_bytes(sample))
    if matches:
        cleanest = min(m.chaos for m in matches)
        for m in matches:
            if m.chaos <= cleanest + 0.02 and m.encoding.lower().replace("-", "_") in _GB_FAMILY:
                return "gb18030", f"detected as {m.encoding}"
    return "utf-8-sig", "default"


def sniff_delimiter(header: str, default: str) -> str:
    """The delimiter that splits the header row into the most columns; the extension's default on a tie.

    The header is used rather than ``csv.Sniffer`` over a sample: a header has no free text, while complaint
    texts full of commas or semicolons make the Sniffer's frequency count pick the wrong character."""
    best, best_n = default, 1
    for d in (default, *(d for d in DELIMITERS if d != default)):
        try:
            n = len(next(csv.reader([header], delimiter=d)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = d, n
    return best


class _Prefixed(io.RawIOBase):
    """A byte stream that gives back the sample already read from it (stdin cannot seek)."""

    def __init__(self, prefix: bytes, rest: IO[bytes]):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _text_stream(raw: IO[bytes], encoding: str) -> IO[str]:
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


def open_input(path: str, fmt: InputFormat, encoding: str | None = None,
               delimiter: str | None = None) -> tuple[IO[str], Decoding]:
    """Open the input as text and settle its encoding and delimiter from its first 64 KiB."""
    if path == STDIN:
        raw_in: IO[bytes] = sys.stdin.buffer
        sample = raw_in.read(SAMPLE_BYTES)
        raw: IO[bytes] = io.BufferedReader(_Prefixed(sample, raw_in))
    else:
        p = Path(path)
        if not p.is_file():
            raise SourceError(f"no such file: {path}")
        raw = open(p, "rb")
        sample = raw.read(SAMPLE_BYTES)
        raw.seek(0)
    try:
        if encoding:
            enc, how = check_encoding(encoding), "given"
        else:
            enc, how = detect_encoding(sample)
        text = sample.decode(enc, "replace").lstrip("\ufeff")
        _check_text(path, text)
        if delimiter:
            delim = delimiter
        elif fmt == "csv":
            delim = sniff_delimiter(text.split("\n", 1)[0], delimiter_for(path))
        else:
            delim = ","
    except BaseException:
        raw.close()
        raise
    return _text_stream(raw, enc), Decoding(enc, delim, how)


_CONTROL = frozenset(chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127))


def _check_text(path: str, sample: str) -> None:
    """Refuse binary data (an archive, a spreadsheet's .xlsx, an image) before it becomes thousands of error
    entries: more than 5 % control characters (NUL and the like) in the first 64 KiB is not a text file. Bytes
    that do not decode are not counted: text in another encoding is caught by the reject limit, which names
    ``--encoding``."""
    if not sample:
        return
    odd = sum(1 for ch in sample if ch in _CONTROL)
    if odd * 20 > len(sample):
        raise SourceError(f"{'stdin' if path == STDIN else path} is not a text file ({odd / len(sample):.0%} of its "
                          "first characters are control characters); give a CSV or JSON lines file")


def count_records(path: str, fmt: InputFormat, decoding: Decoding | None = None) -> int | None:
    """A total for the progress bar, read ahead of the run (None for stdin or an unreadable file).

    JSON lines: newlines, counted in large blocks. CSV: records, because quoted texts span lines; the C
    parser reads a 100,000-row file in well under a second."""
    if path == STDIN:
        return None
    decoding = decoding or Decoding("utf-8-sig", delimiter_for(path), "default")
    try:
        if fmt == "jsonl":
            n = 0
            with open(path, "rb") as f:
                while block := f.read(1 << 22):
                    n += block.count(b"\n")
            return n
        with open(path, encoding=decoding.encoding, errors="surrogateescape", newline="") as f:
            return max(sum(1 for values in csv.reader(f, delimiter=decoding.delimiter) if values) - 1, 0)
    except (OSError, csv.Error, UnicodeError):
        return None


def _is_utf8(s: str) -> bool:
    """Bytes that are not in the encoding arrive as lone surrogates (``surrogateescape``); such a record is
    rejected alone instead of stopping the whole file."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------- records
class _Lines:
    """The input's physical lines for ``csv.reader``, each remembered with its number while a record is read,
    and a push-back so lines a broken record swallowed can be read again."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._back: deque[tuple[int, str]] = deque()
        self._n = 0
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._back:
            item = self._back.popleft()
        else:
            line = self._stream.readline()
            if not line:
                raise StopIteration
            self._n += 1
            item = (self._n, line)
        self.taken.append(item)
        return item[1]

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self._back.extendleft(reversed(items))


class RecordReader:
    """Iterates records; for CSV the header is read up front so mapped columns can be checked before work."""

    def __init__(self, stream: IO[str], fmt: InputFormat, decoding: Decoding | str = ","):
        if isinstance(decoding, str):
            decoding = Decoding("utf-8-sig", decoding, "default")
        self.fmt = fmt
        self.decoding = decoding
        self.columns: list[str] | None = None
        self._stream = stream
        if fmt == "csv":
            self._lines = _Lines(stream)
            self._csv = csv.reader(self._lines, delimiter=decoding.delimiter, strict=True)
            try:
                header = next(self._csv)
            except StopIteration:
                header = []
            except csv.Error as e:
                raise SourceError(f"line 1: unreadable CSV header ({e})") from e
            except UnicodeError as e:  # a UTF-16/32 stream that breaks off mid-character
                raise SourceError(f"line 1: not {decoding.encoding} text ({e})") from e
            self.columns = [printable(h.strip()) for h in header]
            if header and not any(self.columns):
                raise SourceError("line 1: the CSV header row is empty")

    def __iter__(self) -> Iterator[RawRecord]:
        if self.fmt == "jsonl":
            return _read_jsonl(self._stream, self.decoding)
        return _read_csv(self._csv, self._lines, self.columns or [], self.decoding)


def _read_jsonl(stream: IO[str], decoding: Decoding) -> Iterator[RawRecord]:
    row = 0
    line_no = 0
    for line in stream:
        line_no += 1
        if not line.strip():
            continue
        row += 1
        if not _is_utf8(line):
            yield RawRecord(row, line_no, None, decoding.undecodable)
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield RawRecord(row, line_no, None, f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            yield RawRecord(row, line_no, None, "not valid JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            yield RawRecord(row, line_no, None, f"expected a JSON object, got {type(value).__name__}")
            continue
        if "\\u" in line and not _is_utf8(json.dumps(value, ensure_ascii=False)):
            yield RawRecord(row, line_no, None, "not valid JSON text: a \\u escape of a lone surrogate")
            continue
        yield RawRecord(row, line_no, value)


_KEY_PART = re.compile(r"[A-Za-z0-9]+")


def _key_shape(value: str) -> str:
    """``T12`` → ``9``, ``CS-2024-a`` → ``a-9-a``: what a record's first field (an id, a date, a number) looks
    like, independent of its value."""
    return _KEY_PART.sub(lambda m: "9" if any(c.isdigit() for c in m.group()) else "a", value.strip())


def _looks_like_record(line: str, width: int, delimiter: str, shape: str | None) -> bool:
    """A line inside a quoted field that reads as a record of its own: no quote, exactly ``width`` fields, and
    a first field shaped like the previous record's (or, before any, a key with a digit and no spaces)."""
    if width < 2 or '"' in line:
        return False
    fields = line.rstrip("\r\n").split(delimiter)
    if len(fields) != width:
        return False
    first = _key_shape(fields[0])
    if shape is not None:
        return first == shape
    return "9" in first and not any(c.isspace() for c in first)


def _read_csv(reader: Any, lines: _Lines, header: list[str], decoding: Decoding) -> Iterator[RawRecord]:
    """Records, with every physical line accounted for even when a quote is broken.

    A quote opened and never properly closed makes the CSV parser read on across lines until some later
    quote happens to close the field. Two cases:

    * the parser fails (junk after the closing quote, end of file inside the quote, a field over the size
      limit): the record's first line is rejected with the reason, and the lines after it are read again
      from the start of a record — before, they all vanished into one error entry;
    * the parser succeeds, but the quoted field spans lines that each read as a record of their own
      (``_looks_like_record``: same number of fields, no quote, a first field shaped like the previous
      record's id): that is the silent case that swallowed valid complaints. It is handled the same way.

    A genuine multi-line text is kept whole: its inner lines are prose, which rarely has exactly the header's
    number of delimiters and an id-like first field; when one does, the record's first line is rejected
    with a message saying so (not lost), and the rest is read as records."""
    if not header:
        return
    width = len(header)
    shape: str | None = None
    row = 0
    while True:
        lines.taken.clear()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            taken = list(lines.taken)
            if not taken:
                return
            row += 1
            reason = f"unreadable CSV: {e}"
            if len(taken) > 1:
                reason += (f" (a quote opened on line {taken[0][0]} ran on to line {taken[-1][0]}; "
                           f"the lines after {taken[0][0]} are read again as records)")
                lines.push_back(taken[1:])
            yield RawRecord(row, taken[0][0], None, reason)
            continue
        except UnicodeError as e:
            start = lines.taken[0][0] if lines.taken else lines._n
            row += 1
            yield RawRecord(row, start, None, f"{decoding.undecodable} ({e.reason})")
            return
        if not values or not any(v.strip() for v in values):
            continue
        taken = lines.taken
        start = taken[0][0]
        row += 1
        if len(taken) > 1:
            inner = [n for n, text in taken[1:] if _looks_like_record(text, width, decoding.delimiter, shape)]
            if inner:
                yield RawRecord(row, start, None, (
                    f"broken quote: a quoted field opened on line {start} runs to line {taken[-1][0]} over "
                    f"line(s) {', '.join(map(str, inner[:5]))} that read as records of their own; the lines after "
                    f"{start} are read again as records (if this was one text, fix its quotes)"))
                lines.push_back(taken[1:])
                continue
        if not all(_is_utf8(v) for v in values):
            yield RawRecord(row, start, None, decoding.undecodable)
            continue
        if len(values) != width:
            yield RawRecord(row, start, None, f"has {len(values)} fields, the header has {width}")
            continue
        shape = _key_shape(values[0])
        yield RawRecord(row, start, {h: v for h, v in zip(header, values) if v != ""})

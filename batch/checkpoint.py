"""The progress file that makes a batch run resumable after a crash or ``kill -9``.

It is written (atomically, after the data it describes has been flushed and fsync'ed) every second or so, and
records how many input records are fully accounted for and how many bytes of the output and errors files
belong to them. Resuming truncates both files back to those sizes, which also removes a half-written last
line, then skips that many records of the input: every record ends up exactly once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator

from complaint_triage.batch.source import printable


class CheckpointError(ValueError):
    pass


class Job(BaseModel):
    """What must not change between a run and its resumption."""

    input: str
    input_format: str
    output_format: str
    columns: dict[str, str]
    errors: str
    # None in progress files written before these were options: any value matches.
    encoding: str | None = None
    delimiter: str | None = None

    def matches(self, other: Job) -> bool:
        fill = {k: getattr(other, k) for k in ("encoding", "delimiter") if getattr(self, k) is None}
        return self.model_copy(update=fill) == other


class Checkpoint(BaseModel):
    job: Job
    rows_done: int = 0
    out_bytes: int = 0
    errors_bytes: int = 0
    decided: int = 0
    rejected: int = 0
    warnings: int = 0
    ignored_columns: list[str] = []
    done: bool = False

    @field_validator("ignored_columns")
    @classmethod
    def _printable(cls, v: list[str]) -> list[str]:
        """A column name with bytes outside the input's encoding must not make the file unwritable."""
        return [printable(c) for c in v]

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise CheckpointError(f"nothing to resume: {path} does not exist") from e
        except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is not a batch progress file ({e.__class__.__name__})") from e


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.json")

"""The authored training corpus (see AUTHORING.md and CARD.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from complaint_triage.contract import Category, Lang, Severity

CORPUS_DIR = Path(__file__).parent / "data"


class CorpusItem(BaseModel):
    text: str
    lang: Lang
    category: Category
    severity: Severity
    industry: str = "other"
    style: str = Field("plain", alias="register")

    model_config = ConfigDict(populate_by_name=True)


class CorpusError(ValueError):
    pass


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.jsonl"))


def load_corpus(directory: Path = CORPUS_DIR) -> list[CorpusItem]:
    items: list[CorpusItem] = []
    files = corpus_files(directory)
    if not files:
        raise CorpusError(f"no *.jsonl corpus files in {directory}")
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    items.append(CorpusItem.model_validate_json(line))
                except ValidationError as e:
                    raise CorpusError(f"{path.name}:{n}: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}") from e
    return items


def corpus_hash(items: list[CorpusItem]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps(it.model_dump(by_alias=True), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------- signal training items
SIGNAL_DIR = Path(__file__).resolve().parent.parent / "signal_data"


class SignalItem(BaseModel):
    """An authored text labelled for the six signal flags (the learned signal heads' training data)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    danger: bool
    media: bool
    legal: bool
    repeat: bool
    collective: bool
    extreme_action: bool


def load_signal_items(lang: str, directory: Path = SIGNAL_DIR) -> list[SignalItem]:
    path = Path(directory) / f"{lang}.jsonl"
    if not path.is_file():
        return []
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    items.append(SignalItem.model_validate_json(line))
                except ValidationError as e:
                    raise CorpusError(f"{path.name}:{n}: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}") from e
    return items


def signal_items_hash(directory: Path = SIGNAL_DIR) -> str:
    h = hashlib.sha256()
    for path in sorted(Path(directory).glob("*.jsonl")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()

"""Cue lexicons, read once from the TOML files beside this module."""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent


@cache
def signal_lexicon() -> dict:
    with open(_DIR / "signals.toml", "rb") as f:
        return tomllib.load(f)


@cache
def context_lexicon() -> dict:
    """Patterns and vetoes that read a signal's context (see the header of context.toml)."""
    with open(_DIR / "context.toml", "rb") as f:
        return tomllib.load(f)


@cache
def cue_lexicon() -> dict:
    with open(_DIR / "cues.toml", "rb") as f:
        return tomllib.load(f)


def all_zh_phrases() -> set[str]:
    """Every Chinese cue phrase, so the segmenter can keep each one as a single token."""
    phrases: set[str] = set()
    for entry in signal_lexicon().values():
        for key, values in entry.items():
            if key.startswith(("zh", "exclude_zh", "negation_breakers_zh")) and isinstance(values, list):
                phrases.update(values)
    for group in cue_lexicon().values():
        for entry in group.values():
            phrases.update(entry.get("zh", []))
    return {p for p in phrases if len(p) > 1}


def lexicon_hash() -> str:
    """sha256 over the lexicon files, part of the model version."""
    h = hashlib.sha256()
    for path in sorted(_DIR.glob("*.toml")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REALWORLD = SHARED / "realworld"


@pytest.fixture(scope="session")
def corpus():
    from triage.corpus import load_corpus

    return load_corpus()


@pytest.fixture(scope="session")
def small_slice(corpus):
    """A few items from every cell of each language: enough for a round trip, quick to train."""
    seen: dict[tuple, int] = {}
    out = []
    for it in corpus:
        key = (it.lang, it.category, it.severity)
        if seen.get(key, 0) < 6:
            seen[key] = seen.get(key, 0) + 1
            out.append(it)
    return out


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory, small_slice):
    from triage.model import Hyperparams
    from triage.train import train_and_save

    out = tmp_path_factory.mktemp("model")
    train_and_save(small_slice, out, hp=Hyperparams(), cv_folds=0, progress=False)
    return out


@pytest.fixture(scope="session")
def shipped_triage():
    from triage.analyzer import Triage

    return Triage()


@pytest.fixture(scope="session")
def realworld_texts():
    path = REALWORLD / "texts.jsonl"
    if not path.is_file():
        pytest.skip("../shared/realworld is not present")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]

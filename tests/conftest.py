from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REALWORLD = SHARED / "realworld"
# The PostgreSQL the storage tests use; TRIAGE_REQUIRE_POSTGRES=1 (CI) turns "no server answers" from a skip
# into a failure, so a green run cannot silently have skipped every PostgreSQL test.
PG_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def corpus():
    from complaint_triage.triage.corpus import load_corpus

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
    from complaint_triage.triage.model import Hyperparams
    from complaint_triage.triage.train import train_and_save

    out = tmp_path_factory.mktemp("model")
    train_and_save(small_slice, out, hp=Hyperparams(), cv_folds=0, progress=False)
    return out


@pytest.fixture(scope="session")
def shipped_triage():
    from complaint_triage.triage.analyzer import Triage

    return Triage()


@pytest.fixture(scope="session")
def signal_cases() -> list[dict]:
    """The project's own signal test set (tests/data/signals/*.jsonl), each case with its language."""
    cases = []
    for path in sorted((ROOT / "tests" / "data" / "signals").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            cases += [{**json.loads(line), "lang": path.stem} for line in f if line.strip()]
    return cases


@pytest.fixture(scope="session")
def realworld_texts():
    path = REALWORLD / "texts.jsonl"
    if not path.is_file():
        pytest.skip("../shared/realworld is not present")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _pg_store():
    from complaint_triage.service.store import Store

    store = Store(PG_URL, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    try:
        store.ping()
    except Exception as e:  # noqa: BLE001 - any connection failure means "no server here"
        store.engine.dispose()
        message = f"no PostgreSQL at {PG_URL}: {type(e).__name__}"
        if REQUIRE_PG:
            pytest.fail(message + " (TRIAGE_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty store on SQLite and on the local PostgreSQL server (skipped where none answers)."""
    from complaint_triage.service.store import Store

    s = Store(f"sqlite:///{tmp_path / 'store.db'}") if request.param == "sqlite" else _pg_store()
    s.create_schema()
    yield s
    s.drop_schema()
    s.engine.dispose()

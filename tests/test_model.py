import json
import shutil

import pytest

from complaint_triage.contract import CATEGORIES, SEVERITIES
from complaint_triage.triage.analyzer import Triage
from complaint_triage.triage.evaluate import EvalRow, evaluate
from complaint_triage.triage.model import ModelIntegrityError, load_model


def test_round_trip_train_then_evaluate(small_model_dir, small_slice):
    triage = Triage(model_dir=small_model_dir)
    rows = [EvalRow(id=str(i), text=it.text, category=it.category, severity=it.severity)
            for i, it in enumerate(small_slice)]
    report = evaluate(triage, rows)
    for lang in ("zh", "en"):
        cat = report["languages"][lang]["category"]
        assert set(cat["per_class"]) == set(CATEGORIES)
        assert len(cat["confusion"]["matrix"]) == len(CATEGORIES)
        # trained on these very rows: a working pipeline fits them well
        assert cat["accuracy"] > 0.8
        assert report["languages"][lang]["severity"]["accuracy"] > 0.7


def test_card_describes_the_artifacts(small_model_dir):
    card = json.loads((small_model_dir / "model_card.json").read_text())
    assert card["labels"] == {"category": list(CATEGORIES), "severity": list(SEVERITIES)}
    assert len(card["corpus_sha256"]) == 64
    assert set(card["artifacts"]) == {"model.json", "model.npz"}
    for name, entry in card["artifacts"].items():
        assert entry["bytes"] == (small_model_dir / name).stat().st_size


def test_the_saved_model_is_data_not_pickled_code(small_model_dir):
    """Arrays load with pickling refused and the JSON names no Python class."""
    import numpy as np

    with np.load(small_model_dir / "model.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    meta = (small_model_dir / "model.json").read_text()
    assert "complaint_triage" not in meta and "sklearn" not in meta


def test_prediction_never_imports_scikit_learn(small_model_dir):
    """Loading and predicting run on arrays alone, so scikit-learn's version or private attributes cannot
    break a shipped model."""
    import subprocess
    import sys

    code = ("import sys; from complaint_triage.triage.analyzer import Triage; "
            f"t = Triage(model_dir={str(small_model_dir)!r}); t.analyze('包裹丢了'); t.analyze('lost parcel'); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'sklearn', 'joblib', 'pickle'}); "
            "print(bad); sys.exit(1 if any(m.startswith(('sklearn', 'joblib')) for m in bad) else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_tampered_artifact_is_refused(small_model_dir, tmp_path):
    bad = tmp_path / "m"
    shutil.copytree(small_model_dir, bad)
    with open(bad / "model.npz", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_model(bad)


@pytest.mark.parametrize("breakage", ["no_card", "bad_json", "no_artifact"])
def test_broken_model_dirs_give_clear_errors(small_model_dir, tmp_path, breakage):
    bad = tmp_path / "m"
    shutil.copytree(small_model_dir, bad)
    if breakage == "no_card":
        (bad / "model_card.json").unlink()
    elif breakage == "bad_json":
        (bad / "model_card.json").write_text("{not json")
    else:
        (bad / "model.npz").unlink()
    with pytest.raises(ModelIntegrityError):
        load_model(bad)


def test_training_is_deterministic(small_slice, tmp_path):
    from complaint_triage.triage.model import Hyperparams
    from complaint_triage.triage.train import train

    texts = [it.text for it in small_slice[:40]]
    preds = []
    for _ in range(2):
        model, _card = train(small_slice, Hyperparams(seed=3), cv_folds=0, progress=False)
        preds.append([model.predict([t], "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en") for t in texts])
    assert preds[0] == preds[1]


def test_shipped_model_loads_and_is_small(shipped_triage):
    from complaint_triage.triage.analyzer import default_model_dir

    assert sum((default_model_dir() / n).stat().st_size for n in ("model.json", "model.npz")) <= 40 * 1024 * 1024
    r = shipped_triage.analyze("冰箱漏电,孩子被电到了,送去医院了")
    assert r.language == "zh" and r.signals.injury
    assert r.category.label in CATEGORIES and 0 <= r.category.confidence <= 1


def test_unsupported_language_is_flagged_not_guessed(shipped_triage):
    r = shipped_triage.analyze("Coletul nu a ajuns niciodată și nimeni nu răspunde la telefon.")
    assert r.language is None and r.category.confidence == 0.0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_saved_array_prediction_equals_scikit_learns(lang, small_slice, corpus, tmp_path):
    """Train with scikit-learn, save as arrays, load: the probabilities are scikit-learn's own."""
    import numpy as np

    from complaint_triage.triage.features import tokenize
    from complaint_triage.triage.fit import LanguageModel
    from complaint_triage.triage.model import Hyperparams, TriageModel

    sel = [it for it in small_slice if it.lang == lang]
    reference = LanguageModel.fit(lang, [it.text for it in sel], [it.category for it in sel],
                                  [it.severity for it in sel], Hyperparams())
    TriageModel("v-test", {lang: reference.to_arrays()}).save(tmp_path, {})
    loaded = load_model(tmp_path).languages[lang]
    texts = [it.text for it in corpus if it.lang == lang][::40] + ["", "？！", "x" * 3000, "a  b\t\tc\n d"]
    docs = tokenize(texts, lang)
    for ours, ref in zip(loaded.predict_proba(docs), reference.sklearn_predict_proba(docs)):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(loaded.predict_proba(docs[:1])[0], reference.sklearn_predict_proba(docs[:1])[0],
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("lo,hi", [(1, 3), (2, 5)])
def test_char_ngrams_equal_scikit_learns_char_wb(lo, hi, corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from complaint_triage.triage.features import char_wb_ngrams

    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(lo, hi), lowercase=False).build_analyzer()
    for text in [it.text for it in corpus[::97]] + ["", " ", "a", "ab  cd\t\te", "包裹 丢了"]:
        assert char_wb_ngrams(text, lo, hi) == analyzer(text)


def test_training_writes_elsewhere_and_keeps_evaluations(small_slice, tmp_path):
    from complaint_triage.triage.model import read_card, write_card
    from complaint_triage.triage.train import train_and_save

    train_and_save(small_slice, tmp_path, cv_folds=0, progress=False)
    card = read_card(tmp_path)
    card["evaluations"] = {"dev": {"score": 0.5}}
    write_card(tmp_path, card)
    train_and_save(small_slice[:-3], tmp_path, cv_folds=0, progress=False)
    again = read_card(tmp_path)
    assert again["version"] != card["version"]
    assert again["earlier_evaluations"][card["version"]] == {"dev": {"score": 0.5}}


def test_model_version_follows_corpus_and_hyperparameters(small_slice):
    from complaint_triage.triage.corpus import corpus_hash
    from complaint_triage.triage.model import Hyperparams
    from complaint_triage.triage.train import model_version

    digest = corpus_hash(small_slice)
    base = model_version(digest, Hyperparams())
    assert base == model_version(digest, Hyperparams())
    assert base != model_version(corpus_hash(small_slice[1:]), Hyperparams())
    assert base != model_version(digest, Hyperparams(C_category=0.7))


def _every_window_cue_counts(cues, docs):
    """The specification: every window of 1..MAX_CUE_NGRAM tokens, joined, looked up in the cue index."""
    import numpy as np

    from complaint_triage.triage.features import MAX_CUE_NGRAM

    out = np.zeros((len(docs), len(cues.features)))
    for r, doc in enumerate(docs):
        toks = doc.tokens
        for i in range(len(toks)):
            for k in range(1, MAX_CUE_NGRAM + 1):
                if i + k <= len(toks):
                    for c in cues.index.get(cues.joiner.join(toks[i:i + k]), ()):
                        out[r, c] += 1
    return np.log1p(out)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cue_counts_equal_every_window_lookup(lang, shipped_triage, corpus):
    import numpy as np

    from complaint_triage.triage.features import tokenize

    docs = tokenize([it.text for it in corpus if it.lang == lang][::25], lang)
    cues = shipped_triage.model.languages[lang].cues
    got = cues.transform(docs).toarray()
    assert got.any()
    np.testing.assert_allclose(got, _every_window_cue_counts(cues, docs), rtol=0, atol=1e-12)

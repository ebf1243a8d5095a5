import json
import shutil

import pytest

from triage.analyzer import Triage
from triage.evaluate import EvalRow, evaluate
from triage.labels import CATEGORIES, SEVERITIES
from triage.model import ModelIntegrityError, load_model


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


def test_card_describes_the_artifact(small_model_dir):
    card = json.loads((small_model_dir / "model_card.json").read_text())
    assert card["labels"] == {"category": list(CATEGORIES), "severity": list(SEVERITIES)}
    assert len(card["corpus_sha256"]) == 64
    assert card["artifact_bytes"] == (small_model_dir / "triage.joblib").stat().st_size


def test_tampered_artifact_is_refused(small_model_dir, tmp_path):
    bad = tmp_path / "m"
    shutil.copytree(small_model_dir, bad)
    with open(bad / "triage.joblib", "ab") as f:
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
        (bad / "triage.joblib").unlink()
    with pytest.raises(ModelIntegrityError):
        load_model(bad)


def test_training_is_deterministic(small_slice, tmp_path):
    from triage.model import Hyperparams
    from triage.train import train

    texts = [it.text for it in small_slice[:40]]
    preds = []
    for _ in range(2):
        model, _card = train(small_slice, Hyperparams(seed=3), cv_folds=0, progress=False)
        preds.append([model.predict([t], "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en") for t in texts])
    assert preds[0] == preds[1]


def test_shipped_model_loads_and_is_small(shipped_triage):
    from triage.analyzer import default_model_dir

    assert (default_model_dir() / "triage.joblib").stat().st_size <= 25 * 1024 * 1024
    r = shipped_triage.analyze("冰箱漏电,孩子被电到了,送去医院了")
    assert r.language == "zh" and r.signals.injury
    assert r.category.label in CATEGORIES and 0 <= r.category.confidence <= 1


def test_unsupported_language_is_flagged_not_guessed(shipped_triage):
    r = shipped_triage.analyze("Coletul nu a ajuns niciodată și nimeni nu răspunde la telefon.")
    assert r.language is None and r.category.confidence == 0.0


@pytest.mark.parametrize("which", ["shipped", "small"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_fast_prediction_path_equals_scikit_learns(which, lang, shipped_triage, small_model_dir, corpus):
    """The array-maths path replaces scikit-learn only for speed; its probabilities must be the same."""
    import numpy as np

    from triage.features import tokenize

    model = shipped_triage.model if which == "shipped" else load_model(small_model_dir)
    texts = [it.text for it in corpus if it.lang == lang][::40]
    texts += ["", "？！", "x" * 3000]
    docs = tokenize(texts, lang)
    lm = model.languages[lang]
    for fast, ref in zip(lm.predict_proba(docs), lm.sklearn_predict_proba(docs)):
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    single = lm.predict_proba(docs[:1])[0]
    np.testing.assert_allclose(single, lm.sklearn_predict_proba(docs[:1])[0], rtol=0, atol=1e-12)


def test_the_fast_path_is_never_saved(small_model_dir, tmp_path):
    import pickle

    model = load_model(small_model_dir)
    model.predict(["包裹丢了"], "zh")
    assert "_fast" in model.languages["zh"].__dict__
    restored = pickle.loads(pickle.dumps(model.languages["zh"]))
    assert "_fast" not in restored.__dict__
    assert "_prefixes_cache" not in dict(restored.featurizer.transformer_list)["cues"].__dict__


def _every_window_cue_counts(cues, docs):
    """The specification: every window of 1..MAX_CUE_NGRAM tokens, joined, looked up in the cue index."""
    import numpy as np

    from triage.features import MAX_CUE_NGRAM

    out = np.zeros((len(docs), len(cues.feature_names_)))
    for r, doc in enumerate(docs):
        toks = doc.tokens
        for i in range(len(toks)):
            for k in range(1, MAX_CUE_NGRAM + 1):
                if i + k <= len(toks):
                    for c in cues.index_.get(cues.joiner_.join(toks[i:i + k]), ()):
                        out[r, c] += 1
    return np.log1p(out)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cue_counts_equal_every_window_lookup(lang, shipped_triage, corpus):
    import numpy as np

    from triage.features import tokenize

    docs = tokenize([it.text for it in corpus if it.lang == lang][::25], lang)
    cues = dict(shipped_triage.model.languages[lang].featurizer.transformer_list)["cues"]
    got = cues.transform(docs).toarray()
    assert got.any()
    np.testing.assert_allclose(got, _every_window_cue_counts(cues, docs), rtol=0, atol=1e-12)

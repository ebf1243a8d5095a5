from collections import Counter

import pytest

from complaint_triage.contract import CATEGORIES, LANGUAGES, SEVERITIES
from complaint_triage.triage.corpus.provenance import overlaps

MIN_PER_LANGUAGE = 2500
MIN_PER_CELL = 10


def test_corpus_size_per_language(corpus):
    counts = Counter(it.lang for it in corpus)
    for lang in LANGUAGES:
        assert counts[lang] >= MIN_PER_LANGUAGE, counts


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_category_severity_cell_is_covered(corpus, lang):
    cells = Counter((it.category, it.severity) for it in corpus if it.lang == lang)
    thin = {(c, s): cells[(c, s)] for c in CATEGORIES for s in SEVERITIES if cells[(c, s)] < MIN_PER_CELL}
    assert not thin


def test_no_duplicate_texts(corpus):
    dup = [t for t, n in Counter(it.text.strip() for it in corpus).items() if n > 1]
    assert not dup


def test_shingles_catch_a_copy():
    original = "The courier left my parcel in the rain and it was soaked through completely"
    assert overlaps([(original[4:], "en")], [(original, "en")], common=set())
    assert overlaps([("快递员把包裹放在门口被偷了", "zh")], [("他说快递员把包裹放在门口", "zh")])


def test_stock_phrases_made_of_common_words_do_not_count():
    common = {"to", "whom", "it", "may", "concern"}
    assert not overlaps([("To whom it may concern, my bill is wrong", "en")],
                        [("To whom it may concern: the room was dirty", "en")], common=common)


def test_nothing_shared_with_the_real_world_set(corpus, realworld_texts):
    hits = overlaps([(it.text, it.lang) for it in corpus], [(r["text"], r["lang"]) for r in realworld_texts])
    assert not hits, [(corpus[i].text[:60], s) for i, s in hits[:10]]

"""spaCy pipelines, built once per process.

Only blank pipelines are used: the product ships no downloaded model. Chinese uses spaCy's jieba segmenter
(it carries its own dictionary); cue phrases from the lexicons are added to jieba's dictionary so that the
PhraseMatcher sees them as whole tokens.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

import spacy
from spacy.language import Language

_lock = threading.Lock()


@cache
def _build(lang: str) -> Language:
    if lang == "zh":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        from complaint_triage.triage.lexicon import all_zh_phrases

        for phrase in all_zh_phrases():
            jieba.add_word(phrase, freq=200_000)
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    if lang == "en":
        return spacy.blank("en")
    raise ValueError(f"no pipeline for language {lang!r}")


def get_nlp(lang: str) -> Language:
    with _lock:
        return _build(lang)

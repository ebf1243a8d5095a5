"""Offline language identification for the two supported languages.

A script-and-function-word heuristic is enough here: the product only has to tell Chinese and English apart
from everything else, and anything it is unsure about goes to a human (``needs_review``) rather than to the
wrong model. Mixed Chinese–English text is Chinese, because that is how code-switching complaints are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_OTHER_SCRIPT = re.compile(r"[\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f]")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿĀ-ſ]+(?:'[a-z]+)?")
_NON_ENGLISH_LETTER = re.compile(r"[À-ÖØ-öø-ÿĀ-ſ]")

_EN_WORDS = frozenset(
    """a about after again all am an and any are as at be because been before but by can cannot could did do
    does don't for from get got had has have he her him his how i i'm i've if in into is it it's its just me
    my no not now of off on once only or our out over please she so still than that the their them then there
    they this to too until up us very was we were what when where which while who why will with without would
    you your yet never told said paid asked called received order account charged refund service customer""".split()
)
_OTHER_WORDS = frozenset(
    """le la les des est une pas pour avec dans sur que qui nous vous très mais il elle
    der die das und ist nicht ein eine mit für auf ich sie wir sehr aber
    el los las del es una por con para muy pero que yo
    și în este sunt nu pe cu la de un o care mai foarte dar
    il lo gli della sono non per con molto ma che
    os as um uma não com para muito mas
    het een niet met voor zijn maar""".split()
)


@dataclass(frozen=True)
class LanguageGuess:
    """``language`` is ``None`` when the text is in no supported language; ``reason`` says why."""

    language: str | None
    reason: str


def detect_language(text: str) -> LanguageGuess:
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    hangul = len(_HANGUL.findall(text))
    other = len(_OTHER_SCRIPT.findall(text))
    words = [w.lower() for w in _LATIN_WORD.findall(text)]

    if kana and kana * 5 >= han:
        return LanguageGuess(None, "japanese kana")
    if hangul > han:
        return LanguageGuess(None, "korean hangul")
    if han >= 2 and han >= len(words) and han >= other:
        return LanguageGuess("zh", "han characters")
    if other > len("".join(words)):
        return LanguageGuess(None, "unsupported script")
    if not words:
        return LanguageGuess(None, "no letters")

    en = sum(w in _EN_WORDS for w in words)
    foreign = sum(w in _OTHER_WORDS and w not in _EN_WORDS for w in words)
    accented = len(_NON_ENGLISH_LETTER.findall(text))
    if foreign > en or (accented > 2 and accented * 20 > len("".join(words)) and foreign >= en / 2):
        return LanguageGuess(None, "latin script, not english")
    if en == 0 and len(words) > 6:
        return LanguageGuess(None, "no english function words")
    return LanguageGuess("en", "latin script with english function words")

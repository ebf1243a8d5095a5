"""Evidence that the corpus was not copied from the real-world evaluation set.

Two texts that share a run of 8 Chinese characters or 5 English words are treated as related: ordinary
phrasing rarely lines up that long by chance, while a copy or a close paraphrase almost always does.
English has stock phrases that do line up by chance ("filed a complaint with the", "on XX/XX/XXXX I"), so an
English run counts only when at least one of its words is not common: common means a redaction marker or a
word found in at least 1% of the corpus's own English texts.
"""

from __future__ import annotations

import re

ZH_SHINGLE = 8
EN_SHINGLE = 5
_WORD = re.compile(r"[a-z0-9']+")
_ZH_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def shingles(text: str, lang: str) -> set[str]:
    if lang == "zh":
        chars = "".join(_ZH_KEEP.findall(text.lower()))
        return {chars[i : i + ZH_SHINGLE] for i in range(len(chars) - ZH_SHINGLE + 1)}
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + EN_SHINGLE]) for i in range(len(words) - EN_SHINGLE + 1)}


def common_words(corpus: list[tuple[str, str]], min_share: float = 0.01) -> set[str]:
    docs = [set(_WORD.findall(t.lower())) for t, lang in corpus if lang == "en"]
    df: dict[str, int] = {}
    for d in docs:
        for w in d:
            df[w] = df.get(w, 0) + 1
    return {w for w, n in df.items() if n >= min_share * max(len(docs), 1)} | {"xx", "xxxx", "xxxxxxxx"}


def overlaps(
    corpus: list[tuple[str, str]], reference: list[tuple[str, str]], common: set[str] | None = None
) -> list[tuple[int, str]]:
    """(corpus index, shared shingle) for every corpus text sharing a telling shingle with any reference text."""
    ref: set[str] = set()
    for text, lang in reference:
        ref |= shingles(text, lang)
    common = common_words(corpus) if common is None else common
    hits = []
    for i, (text, lang) in enumerate(corpus):
        shared = shingles(text, lang) & ref
        if lang == "en":
            shared = {s for s in shared if not set(s.split()) <= common}
        if shared:
            hits.append((i, sorted(shared)[0]))
    return hits

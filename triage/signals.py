"""Facts a complaint's text reveals: money, dates, refund requests, threats, danger, repeats, collectives.

Cue phrases live in ``lexicon/signals.toml`` and are matched with spaCy's PhraseMatcher on the language's
tokens; a cue with a negation a few tokens before it ("no lawyer needed", "没有人受伤") does not count.
Amounts and dates are matched with regular expressions over the text and kept as spaCy spans: their formats
(¥1.5万, $1,200, 03/14/2025, 5个月前) cross token boundaries differently in each tokenizer, so token patterns
would be more fragile than one expression per format.
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from functools import cache

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from complaint_triage.contract import SIGNAL_FLAGS, Amount, DateMention, SignalHit, Signals
from complaint_triage.masking import is_phone_number
from complaint_triage.triage.lexicon import context_lexicon, signal_lexicon
from complaint_triage.triage.nlp import get_nlp

FLAG_SIGNALS = SIGNAL_FLAGS
_NEGATION_WINDOW = 3


# ---------------------------------------------------------------- amounts
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_ZH_NUM = r"[零〇一二两三四五六七八九十百千万]+"
_CUR_PREFIX = r"US\$|\$|USD|usd|RMB|rmb|CNY|¥|￥|€|EUR|£|GBP"
_CUR_SUFFIX = r"元|块钱|块|圆|人民币|RMB|rmb|CNY|USD|usd|dollars?|bucks|美元|美金|欧元|euros?|pounds?"
_MULT = r"k|K|千|万|m|M|million|thousand"
_AMOUNT_RE = re.compile(
    rf"(?P<pre>{_CUR_PREFIX})\s?(?P<n1>{_NUM})\s?(?P<m1>{_MULT})?(?!\w)(?!\.\d)"
    rf"|(?P<n2>{_NUM})\s?(?P<m2>{_MULT})?\s?(?P<suf>{_CUR_SUFFIX})"
    rf"|(?P<n3>{_ZH_NUM})(?P<suf3>元|块钱|块)"
    rf"|(?<![\w.])(?P<n4>\d+(?:\.\d+)?)(?P<m4>k|K)(?![\w])"
)
_CURRENCY = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "美元": "USD",
    "美金": "USD", "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "元": "CNY", "块": "CNY", "块钱": "CNY",
    "圆": "CNY", "人民币": "CNY", "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "欧元": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
}
_MULTIPLIER = {"k": 1e3, "thousand": 1e3, "千": 1e3, "万": 1e4, "m": 1e6, "million": 1e6}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}


def parse_zh_number(text: str) -> int | None:
    """Chinese numerals up to the 万s (两百 → 200, 三千五百 → 3500, 1万 handled by the caller)."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            section += (1 if digit is None else digit) * _ZH_UNITS[ch]
            digit = None
        elif ch == "万":
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


def find_amounts(text: str) -> list[tuple[int, int, Amount]]:
    found = []
    for m in _AMOUNT_RE.finditer(text):
        g = m.groupdict()
        if g["n3"]:
            value = parse_zh_number(g["n3"])
            if not value:
                continue
            cur = "CNY"
        else:
            raw = g["n1"] or g["n2"] or g["n4"]
            if len(raw) >= 10 and raw.isdigit() and is_phone_number(raw):
                continue  # 请把钱退到13955556666元: a phone number, not an amount
            value = float(raw.replace(",", ""))
            mult = g["m1"] or g["m2"] or g["m4"]
            if mult:
                value *= _MULTIPLIER[mult.lower()]
            cur_text = (g["pre"] or g["suf"] or "").lower()
            cur = _CURRENCY.get(cur_text)
        found.append((m.start(), m.end(), Amount(value=float(value), currency=cur, text=m.group(0))))
    return found


# ---------------------------------------------------------------- dates
_MONTHS = {
    name: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_EN_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_EN_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "several": 3, "few": 3, "couple": 2, "a couple of": 2,
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365, "天": 1, "日": 1, "周": 7, "星期": 7, "个星期": 7,
              "礼拜": 7, "个礼拜": 7, "月": 30, "个月": 30, "年": 365}

# Every alternative starts with a digit, an X, one of these Chinese characters, or a Latin word (after \b) whose
# first letter begins a month, "last"/"in"/"this", a number word or "yesterday":
# testing that first keeps the many alternatives from being tried at every position (2.5x faster on long text).
_DATE_START = r"(?:(?=[0-9Xx上前昨去半大一二两三四五六七八九十几])|(?<![A-Za-z])(?=[adefijlmnostxyADEFIJLMNOSTXY]))"
_DATE_RE = re.compile(
    _DATE_START + "(?:"
    rf"(?P<iso>(?P<y>(?:19|20)\d\d)\s?[-/.年]\s?(?P<mo>\d{{1,2}})\s?[-/.月]\s?(?P<d>\d{{1,2}})\s?[日号]?)"
    rf"|(?P<redacted>XX/XX/(?:XXXX|\d{{2,4}}))"
    rf"|(?P<us>(?<!\d)(?P<us_m>\d{{1,2}})/(?P<us_d>\d{{1,2}})(?:/(?P<us_y>\d{{2,4}}))?(?![\d/]))"
    rf"|(?P<zhmd>(?P<zm>\d{{1,2}})月(?P<zd>\d{{1,2}})[日号])"
    rf"|(?P<enmd>\b(?P<em>{_MONTH_RE})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<ey>(?:19|20)\d\d))?\b)"
    rf"|(?P<enmy>\b(?P<lastm>last\s+|in\s+|this\s+past\s+)?(?P<em2>{_MONTH_RE})(?:\s+(?P<ey2>(?:19|20)\d\d))?\b)"
    rf"|(?P<ago>\b(?P<an>\d+|a couple of|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|few)"
    rf"\s+(?P<au>day|week|month|year)s?\s+ago\b)"
    rf"|(?P<zhago>(?P<zn>\d+|[一二两三四五六七八九十几半]+)(?P<zu>个月|个星期|个礼拜|天|日|周|星期|礼拜|月|年)(?:之前|以前|前))"
    rf"|(?P<zhhalf>半年前|半个月前|大半年前)"
    rf"|(?P<enrel>\b(?:yesterday|last\s+week|last\s+month|last\s+year|last\s+(?P<ewd>{'|'.join(_EN_WEEKDAYS)}))\b)"
    rf"|(?P<zhrel>前天|昨天|上周(?P<zwd>[一二三四五六日天])?|上星期(?P<zwd2>[一二三四五六日天])?|上个月|上月|去年|前年))",
    re.IGNORECASE,
)
# the English month "may" is also a verb; it only counts with a day number or "last"/"in" before it
_AMBIGUOUS_MONTHS = {"may", "mar", "jan", "jun", "aug", "dec", "oct", "sep", "nov"}


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _before(ref: date, month: int, day: int) -> date | None:
    d = _safe_date(ref.year, month, day)
    if d and d > ref:
        d = _safe_date(ref.year - 1, month, day)
    return d


def _count(word: str) -> float:
    word = word.lower()
    if word.isdigit():
        return float(word)
    if word in _EN_NUMBER_WORDS:
        return float(_EN_NUMBER_WORDS[word])
    if word == "半":
        return 0.5
    if word == "几":
        return 3.0
    return float(parse_zh_number(word) or 0)


def find_dates(text: str, ref: date) -> list[tuple[int, int, DateMention]]:
    found = []
    for m in _DATE_RE.finditer(text):
        g = m.groupdict()
        d: date | None = None
        if g["iso"]:
            d = _safe_date(int(g["y"]), int(g["mo"]), int(g["d"]))
        elif g["redacted"]:
            d = None
        elif g["us"]:
            y = g["us_y"]
            if y is None:
                d = _before(ref, int(g["us_m"]), int(g["us_d"]))
            else:
                year = int(y) + (2000 if len(y) == 2 else 0)
                d = _safe_date(year, int(g["us_m"]), int(g["us_d"]))
            if d is None:
                continue
        elif g["zhmd"]:
            d = _before(ref, int(g["zm"]), int(g["zd"]))
        elif g["enmd"]:
            month = _MONTHS[g["em"].lower()]
            d = (_safe_date(int(g["ey"]), month, int(g["ed"])) if g["ey"] else _before(ref, month, int(g["ed"])))
        elif g["enmy"]:
            name = g["em2"].lower()
            if not (g["lastm"] or g["ey2"]) and (name in _AMBIGUOUS_MONTHS or len(name) < 4):
                continue
            month = _MONTHS[name]
            if g["ey2"]:
                d = _safe_date(int(g["ey2"]), month, 1)
            else:
                d = _before(ref, month, 1)
                if g["lastm"] and g["lastm"].strip().lower() == "last" and d and d.month == ref.month:
                    d = _safe_date(d.year - 1, month, 1)
        elif g["ago"]:
            d = ref - timedelta(days=round(_count(g["an"]) * _UNIT_DAYS[g["au"].lower()]))
        elif g["zhago"]:
            d = ref - timedelta(days=round(_count(g["zn"]) * _UNIT_DAYS[g["zu"]]))
        elif g["zhhalf"]:
            d = ref - timedelta(days=15 if "个月" in g["zhhalf"] else 182)
        elif g["enrel"]:
            word = g["enrel"].lower()
            if g["ewd"]:
                target = _EN_WEEKDAYS.index(g["ewd"].lower())
                d = ref - timedelta(days=(ref.weekday() - target) % 7 or 7)
            elif word == "yesterday":
                d = ref - timedelta(days=1)
            else:
                d = ref - timedelta(days={"week": 7, "month": 30, "year": 365}[word.split()[-1]])
        elif g["zhrel"]:
            word = g["zhrel"]
            wd = g["zwd"] or g["zwd2"]
            if wd:
                monday = ref - timedelta(days=ref.weekday() + 7)
                d = monday + timedelta(days=_ZH_WEEKDAYS[wd])
            else:
                d = ref - timedelta(days={"前天": 2, "昨天": 1, "上周": 7, "上星期": 7, "上个月": 30, "上月": 30,
                                          "去年": 365, "前年": 730}[word])
        found.append((m.start(), m.end(), DateMention(text=m.group(0), date=d)))
    return found


# ---------------------------------------------------------------- cue phrases
_SENTENCE_END = re.compile(r"[.!?;。！？；\n]")
_WORD = re.compile(r"[\w']+")


class _Patterns:
    """Case-insensitive patterns, run on the lower-cased text (three times faster than re.IGNORECASE on
    English) whenever lower-casing keeps every offset; otherwise on the text itself, ignoring case."""

    def __init__(self, patterns: list[str]):
        joined = "|".join(f"(?:{p})" for p in patterns)
        self.lower = re.compile(joined.lower())
        self.any_case = re.compile(joined, re.IGNORECASE)

    def finditer(self, text: str, low: str | None):
        return (self.lower if low is not None else self.any_case).finditer(low if low is not None else text)

    def search(self, text: str) -> bool:
        low = text.lower()
        return bool(self.lower.search(low) if len(low) == len(text) else self.any_case.search(text))


def _lowered(text: str) -> str | None:
    low = text.lower()
    return low if len(low) == len(text) else None


def _compile(patterns: list[str]) -> _Patterns | None:
    return _Patterns(patterns) if patterns else None


def _english_variants(phrases: list[str]) -> list[str]:
    """Each cue also in its plural ("newspaper" → "newspapers"): people write both."""
    out = list(phrases)
    for p in phrases:
        last = p.split()[-1] if p.split() else p
        if last.isalpha() and not last.endswith("s") and len(last) > 2:
            out.append(p + ("es" if last.endswith(("sh", "ch", "x")) else "s"))
    return list(dict.fromkeys(out))


class _LanguageMatchers:
    """Cue phrases propose a signal; context decides whether it counts.

    English cues are matched on spaCy tokens (so "fire" never matches inside "fireplace"); Chinese cues on the
    raw text, since the segmenter may cut a phrase differently in context (拉着横幅 vs 拉横幅). Patterns from
    ``context.toml`` add paraphrases no single cue covers; its vetoes drop hits inside an irrelevant or
    figurative mention. A negation just before a hit (in its own sentence) cancels it.
    """

    def __init__(self, lang: str):
        lex, ctx = signal_lexicon(), context_lexicon()
        self.nlp = get_nlp(lang)
        self.lang = lang
        self.negate: dict[str, bool] = {}
        self.patterns: dict[str, _Patterns] = {}
        self.vetoes: dict[str, _Patterns] = {}
        self.cues = PhraseMatcher(self.nlp.vocab, attr="LOWER") if lang == "en" else None
        self.excludes = PhraseMatcher(self.nlp.vocab, attr="LOWER") if lang == "en" else None
        self.zh_cues: dict[str, re.Pattern] = {}
        self.zh_excludes: dict[str, re.Pattern] = {}
        for name in FLAG_SIGNALS:
            entry = lex[name]
            phrases = entry[lang]
            if lang == "en":
                self.cues.add(name, list(self.nlp.tokenizer.pipe(_english_variants(phrases))))
                if entry.get("exclude_en"):
                    self.excludes.add(name, list(self.nlp.tokenizer.pipe(entry["exclude_en"])))
            else:
                by_length = sorted(phrases, key=len, reverse=True)
                self.zh_cues[name] = re.compile("|".join(map(re.escape, by_length)), re.IGNORECASE)
                if entry.get("exclude_zh"):
                    self.zh_excludes[name] = re.compile("|".join(map(re.escape, entry["exclude_zh"])))
            self.negate[name] = entry.get("negate", True)
            context = ctx.get(name, {})
            if (rx := _compile(context.get(f"patterns_{lang}", []))) is not None:
                self.patterns[name] = rx
            if (rx := _compile(context.get(f"veto_{lang}", []))) is not None:
                self.vetoes[name] = rx
        self.negations = {w.lower() for w in lex["negation"][lang]}
        self.breakers = [w.lower() for w in lex["negation"][f"negation_breakers_{lang}"]]

    def _negated(self, text: str, start: int, end: int) -> bool:
        """A negation among the few words (zh: characters) before the hit, within its sentence."""
        begin = max(0, start - (40 if self.lang == "en" else 5))
        before = text[begin:start]
        cut = [m.end() for m in _SENTENCE_END.finditer(before)]
        if cut:
            before = before[cut[-1]:]
        if self.lang == "en":
            words = [w.lower() for w in _WORD.findall(before)][-_NEGATION_WINDOW:]
            if not any(w in self.negations or w.endswith("n't") for w in words):
                return False
            return not any(b in words for b in self.breakers)
        if not any(ch in "不没无未别" for ch in before) and not any(n in before for n in self.negations):
            return False
        around = text[max(0, start - 6):end].lower()
        return not any(b in around for b in self.breakers)

    def _candidates(self, doc: Doc, text: str) -> list[tuple[str, int, int]]:
        found: list[tuple[str, int, int]] = []
        if self.lang == "en":
            vocab = self.nlp.vocab.strings
            excluded: dict[str, list[tuple[int, int]]] = {}
            for match_id, start, end in self.excludes(doc):
                excluded.setdefault(vocab[match_id], []).append((start, end))
            for match_id, start, end in self.cues(doc):
                name = vocab[match_id]
                if any(s <= start and end <= e for s, e in excluded.get(name, ())):
                    continue
                span = doc[start:end]
                found.append((name, span.start_char, span.end_char))
        else:
            for name, rx in self.zh_cues.items():
                if name in self.zh_excludes and self.zh_excludes[name].search(text):
                    continue
                found.extend((name, m.start(), m.end()) for m in rx.finditer(text))
        low = _lowered(text)
        for name, rx in self.patterns.items():
            found.extend((name, m.start(), m.end()) for m in rx.finditer(text, low) if m.end() > m.start())
        return found

    def flags(self, doc: Doc, text: str | None = None) -> list[SignalHit]:
        """``text`` is ``doc.text`` when the caller has it: spaCy rebuilds that string from every token."""
        text = doc.text if text is None else text
        vetoed: dict[str, list[tuple[int, int]]] = {}
        low = _lowered(text)
        for name, rx in self.vetoes.items():
            spans = [(m.start(), m.end()) for m in rx.finditer(text, low)]
            if spans:
                vetoed[name] = spans
        hits: list[SignalHit] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for name, start, end in sorted(self._candidates(doc, text), key=lambda c: (c[1], -(c[2] - c[1]))):
            if any(s < end and start < e for s, e in vetoed.get(name, ())):
                continue
            if any(s < end and start < e for s, e in taken.get(name, ())):
                continue
            if self.negate[name] and self._negated(text, start, end):
                continue
            if text[start:end].isdigit() and _inside_number(text, start, end):
                continue
            taken.setdefault(name, []).append((start, end))
            hits.append(SignalHit(signal=name, text=text[start:end], start=start, end=end))
        return hits


def _inside_number(text: str, start: int, end: int) -> bool:
    """A hotline like 12345 inside a phone or order number is not a hotline."""
    return (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit())


@cache
def _matchers(lang: str) -> _LanguageMatchers:
    return _LanguageMatchers(lang)


_matcher_lock = threading.Lock()


def matchers(lang: str) -> _LanguageMatchers:
    with _matcher_lock:
        return _matchers(lang)


# The flag a learned signal head stands for when the cue lexicon found nothing more specific.
LEARNED_FLAG = {"danger": "injury", "media": "media_threat", "legal": "legal_threat", "repeat": "repeat",
                "collective": "collective", "extreme_action": "extreme_action"}
# The six flag groups people ask about (and the learned heads predict), as unions of the contract's flags.
SIGNAL_GROUPS: dict[str, tuple[str, ...]] = {
    "danger": ("injury",), "media": ("media_threat", "media_exposure"),
    "legal": ("legal_threat", "legal_action_filed", "regulator_threat"), "repeat": ("repeat",),
    "collective": ("collective",), "extreme_action": ("extreme_action",),
}


def signal_group_flags(signals: Signals) -> dict[str, bool]:
    return {g: any(getattr(signals, s) for s in members) for g, members in SIGNAL_GROUPS.items()}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as exact character spans (stripped of surrounding space), for evidence from a classifier."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def extract_signals(text: str, lang: str, received: date | None = None, doc: Doc | None = None,
                    learned: dict[str, tuple[int, int]] | None = None,
                    unconfirmed: frozenset[str] = frozenset()) -> Signals:
    """``doc`` may be passed when the caller already tokenized the text (the classifier does). ``learned``
    holds the flags a learned signal head found with the span of the sentence that carries each most; a flag
    the cues already found keeps the cues' evidence. Cue hits of the groups in ``unconfirmed`` (the head
    all but rules them out) do not count."""
    ref = received or date.today()
    m = matchers(lang)
    doc = doc if doc is not None else m.nlp(text)
    hits = m.flags(doc, text)
    if unconfirmed:
        dropped = {f for g in unconfirmed for f in SIGNAL_GROUPS[g]}
        hits = [h for h in hits if h.signal not in dropped]
    flags = {name: False for name in FLAG_SIGNALS}
    for h in hits:
        flags[h.signal] = True
    for group, (start, end) in (learned or {}).items():
        if not any(flags[f] for f in SIGNAL_GROUPS[group]):
            flag = LEARNED_FLAG[group]
            flags[flag] = True
            hits.append(SignalHit(signal=flag, text=text[start:end], start=start, end=end))

    found = find_amounts(text)
    amounts = [a for _, _, a in found]
    for start, end, a in found:
        hits.append(SignalHit(signal="amount", text=a.text, start=start, end=end))
    dates = []
    for start, end, d in find_dates(text, ref):
        dates.append(d)
        hits.append(SignalHit(signal="date", text=d.text, start=start, end=end))
    resolved = [d.date for d in dates if d.date is not None and d.date <= ref]

    top = max(amounts, key=lambda a: a.value, default=None)
    return Signals(
        amount=top.value if top else None,
        currency=top.currency if top else None,
        amounts=amounts,
        dates=dates,
        incident_date=min(resolved, default=None),
        evidence=sorted(hits, key=lambda h: h.start),
        **flags,
    )


def vetoed(text: str, lang: str, group: str) -> bool:
    """Whether the text holds a known irrelevant or figurative mention for one of the group's flags."""
    m = matchers(lang)
    return any(rx.search(text) for f in SIGNAL_GROUPS[group] if (rx := m.vetoes.get(f)) is not None)

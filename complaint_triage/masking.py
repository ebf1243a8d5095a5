"""Personal data in complaint text is masked before it is stored or logged (policy.md, Confidentiality).

Masking is a list of recognizers, one per kind of personal data (presidio's design): each has candidate
patterns, which say where such a number *could* be, and a validator from a well-kept library, which says
whether it *is* one — Luhn for bank cards and the ISO 7064 check digit for Chinese resident IDs
(python-stdnum), CN/US/GB numbering plans for phones (phonenumbers), the SSA's rules for US SSNs (stdnum).
So a 13-digit order number that fails Luhn and is no phone number stays readable, and a card number written
with dots or double spaces does not.

Masking keeps the text's length and separators and only replaces characters with ``*``, so character
offsets computed on the raw text (signal evidence spans) still point at the same place in the masked text.
A short suffix survives (last 4 digits, the e-mail domain) so an agent can still match a number the customer
reads out. Full-width digits and punctuation (１３８…, ＋８６, ＠) are normalised one character for one before
matching, so spans found in the normalised text are the spans masked in the original.

Identifiers (complaint ids, employee ids) are not masked with stars but replaced, when they look like personal
data, by a keyed hash (:func:`mask_identifier`): the same id always maps to the same ``id-<16 hex>``, so
idempotency and lookups still work, and without the key (``TRIAGE_ID_HASH_KEY``) the number cannot be
recovered by hashing every phone number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric
from stdnum.us import ssn

KEEP_DIGITS = 4

ID_HASH_KEY_ENV = "TRIAGE_ID_HASH_KEY"
# For local use and tests only: a deployment sets TRIAGE_ID_HASH_KEY (a key anyone can read hashes nothing).
DEFAULT_ID_HASH_KEY = "complaint-triage-local-id-key"
_HASHED_ID = re.compile(r"id-[0-9a-f]{16}")

# One character for one, so offsets in the normalised text are offsets in the original.
_FULLWIDTH = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                            "＋": "+", "（": "(", "）": ")", "－": "-", "＠": "@", "．": ".", "［": "[", "］": "]",
                            "\u3000": " "})
_HAS_FULLWIDTH = re.compile("[０-９＋（）－＠．［］\u3000]")
# Every number pattern below matches only these characters, starting with one of the first three, and needs at
# least 7 digits with at most 3 separators between two of them. Number recognizers run only inside such runs
# (most complaints have none: amounts, dates and short numbers are too short).
_NUMBER_RUN = re.compile(r"[+(0-9][0-9 .\-()+Xx]{6,}")
_NUMBER_GUARD = re.compile(r"[0-9](?:[ .\-()]{0,3}[0-9]){6}")
_AT_MARK = re.compile(r"@|[Aa][Tt][\])]")

# A separator between digits: one dot or dash, or one or two spaces.
_S = r"(?:[.\-]| {1,2})?"
# Numbers do not start or end inside a word, another number or a decimal ("SF1234567890123", "12.5").
_START = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
_END = r"(?![0-9A-Za-z])(?!\.[0-9])"


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    recognizer: Recognizer


class Recognizer:
    """Candidate patterns (run on the normalised text) and a validator for what they catch."""

    kind: ClassVar[str]
    patterns: ClassVar[tuple[re.Pattern[str], ...]]

    def find(self, norm: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int]]:
        endpos = len(norm) if endpos is None else endpos
        for pattern in self.patterns:
            for m in pattern.finditer(norm, pos, endpos):
                if self.validate(m.group(), norm, m.start()):
                    yield m.start(), m.end()

    def validate(self, span: str, text: str, start: int) -> bool:
        raise NotImplementedError

    def mask(self, original: str, norm: str) -> str:
        return _star_keep_suffix(original)


_NON_DIGIT = re.compile(r"[^0-9]+")


def _digits(s: str) -> str:
    return _NON_DIGIT.sub("", s)


def _star_keep_suffix(s: str, keep: int = KEEP_DIGITS) -> str:
    total = sum(c.isalnum() for c in s)
    out, seen = [], 0
    for c in s:
        if c.isalnum():
            seen += 1
            out.append(c if seen > total - keep else "*")
        else:
            out.append(c)
    return "".join(out)


# ---------------------------------------------------------------- e-mail
_EMAIL_AT = r"(?:@| ?\[(?:at|AT|At)\] ?| ?\((?:at|AT|At)\) ?)"
_EMAIL_DOT = r"(?:\.| ?\[(?:dot|DOT)\] ?| ?\((?:dot|DOT)\) ?)"


class EmailRecognizer(Recognizer):
    """``name@domain.tld``, and the spelled-out ``name [at] domain.tld`` / ``name(at)domain.tld``."""

    kind = "email"
    patterns = (re.compile(
        rf"(?<![A-Za-z0-9._%+\-])(?P<local>[A-Za-z0-9._%+\-]{{1,64}})(?P<at>{_EMAIL_AT})"
        rf"(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,62}}{_EMAIL_DOT})+[A-Za-z]{{2,24}})(?![A-Za-z0-9\-])"),)
    _at = re.compile(_EMAIL_AT)

    def validate(self, span: str, text: str, start: int) -> bool:
        local = self._at.split(span, maxsplit=1)[0]
        return not (local.startswith(".") or local.endswith(".") or ".." in local)

    def mask(self, original: str, norm: str) -> str:
        at = self._at.search(norm)
        assert at is not None
        return "*" * at.start() + original[at.start():]


# ---------------------------------------------------------------- phone numbers
@lru_cache(maxsize=4096)
def _phone_ok(digits: str, region: str | None, lenient: bool) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.is_valid_number(number):
        return region != "CN" or phonenumbers.number_type(number) in _CN_PERSONAL
    return lenient and phonenumbers.is_possible_number(number)


# Mobiles and fixed lines: CN 400/800 service numbers are companies' hotlines, not personal data.
_CN_PERSONAL = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                          phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


class PhoneRecognizer(Recognizer):
    """CN mobiles and landlines, US 10-digit numbers and UK numbers, national or international, with or
    without separators, validated against each country's numbering plan by ``phonenumbers``.

    A number written with a ``+``/``00`` country code, or with separators in a phone's layout, only needs to
    have a possible length for its country (``(555) 123-4567``, ``07700 900123``: reserved for fiction, still
    written as phones); a bare run of digits must be a valid number, or it is some other number.
    """

    kind = "phone"
    # (pattern, regions to try); "+" means: parse as international.
    shapes: ClassVar[tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]] = (
        # +86 138 1234 5678, 0044 20 7946 0958, +1 (415) 555-2671, +44 (0)20 7946 0958
        (re.compile(rf"(?=[+0]){_START}(?:\+|00)[1-9][0-9]{{0,2}}(?:{_S}\(0\))?{_S}\(?[0-9]{{1,4}}\)?"
                    rf"(?:{_S}[0-9]){{5,12}}{_END}"), ("+",)),
        # CN mobile: 13812345678, 138-1234-5678, 138.1234.5678
        (re.compile(rf"(?=1){_START}1[3-9][0-9](?:{_S}[0-9]){{8}}{_END}"), ("CN",)),
        # trunk 0: CN 02887654321, 0571 87654321, (021)64567890; UK 020 7946 0958, 07700 900123
        (re.compile(rf"(?=[(0]){_START}(?:\(0[0-9]{{2,4}}\) ?|0[0-9]{{2,4}})(?:{_S}[0-9]){{6,9}}{_END}"),
         ("CN", "GB")),
        # US: 2025550143, 202-555-0143, (202) 555-0143, 1 202 555 0143
        (re.compile(rf"(?=[(0-9]){_START}(?:1{_S})?(?:\([0-9]{{3}}\) ?|[0-9]{{3}}{_S})[0-9]{{3}}{_S}[0-9]{{4}}{_END}"),
         ("US",)),
    )
    patterns = tuple(p for p, _ in shapes)

    def find(self, norm: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int]]:
        endpos = len(norm) if endpos is None else endpos
        for pattern, regions in self.shapes:
            for m in pattern.finditer(norm, pos, endpos):
                if self._valid(m.group(), regions):
                    yield m.start(), m.end()

    def validate(self, span: str, text: str, start: int) -> bool:
        return any(p.fullmatch(span) and self._valid(span, r) for p, r in self.shapes)

    @staticmethod
    def _valid(span: str, regions: tuple[str, ...]) -> bool:
        if regions == ("+",):
            digits = _digits(span.replace("(0)", ""))  # +44 (0)20 …: the trunk 0 is not dialled from abroad
            return _phone_ok("+" + (digits[2:] if span.startswith("00") else digits), None, True)
        digits = _digits(span)
        written_as_phone = not span.isdigit()
        return any(_phone_ok(digits, r, written_as_phone and r != "CN") for r in regions)


# The same numbers recur (a customer's card in every message of a thread): validators are cached.
_luhn_ok = lru_cache(maxsize=4096)(luhn.is_valid)
_ric_ok = lru_cache(maxsize=4096)(ric.is_valid)


# ---------------------------------------------------------------- bank cards
class BankCardRecognizer(Recognizer):
    """13-19 digits, bare or grouped by spaces, double spaces, dashes or dots; the Luhn check digit decides."""

    kind = "card"
    patterns = (re.compile(rf"(?=[0-9]){_START}[0-9](?:{_S}[0-9]){{12,18}}{_END}"),)
    _group_end = re.compile(r"[0-9](?=[ .\-])")

    def find(self, norm: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int]]:
        for m in self.patterns[0].finditer(norm, pos, len(norm) if endpos is None else endpos):
            # A card followed by another number ("4111 1111 1111 1111 2025") is one run; try it without the
            # trailing groups before giving up.
            span = m.group()
            ends = [len(span)] + [g.end() for g in reversed(list(self._group_end.finditer(span)))]
            for end in ends:
                if self.validate(span[:end], norm, m.start()):
                    yield m.start(), m.start() + end
                    break

    def validate(self, span: str, text: str, start: int) -> bool:
        digits = _digits(span)
        return 13 <= len(digits) <= 19 and _luhn_ok(digits)


# ---------------------------------------------------------------- Chinese resident ID
class CnResidentIdRecognizer(Recognizer):
    """18 characters: region, birth date, sequence, ISO 7064 MOD 11-2 check digit (``stdnum.cn.ric``)."""

    kind = "cn_id"
    patterns = (re.compile(
        rf"(?=[1-9]){_START}[1-9][0-9]{{5}} ?(?:18|19|20)[0-9]{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
        rf" ?[0-9]{{3}}[0-9Xx]{_END}"),)

    def validate(self, span: str, text: str, start: int) -> bool:
        return _ric_ok(span.replace(" ", "").upper())


# ---------------------------------------------------------------- US social security number
class UsSsnRecognizer(Recognizer):
    """``123-45-6789``, ``123 45 6789`` and ``123456789``, valid by the SSA's rules (``stdnum.us.ssn``: no
    000/666/9xx area, 00 group or 0000 serial, not a number published in an advert). Nine bare digits are
    anything (an order, a QQ number), so that form needs a word for SSN shortly before it."""

    kind = "ssn"
    patterns = (re.compile(rf"(?=[0-9]){_START}[0-9]{{3}}(?P<sep>[ \-]?)[0-9]{{2}}(?P=sep)[0-9]{{4}}{_END}"),)
    _context = re.compile(r"ssn|social security|soc\. ?sec|ss#|社会安全", re.IGNORECASE)
    CONTEXT_CHARS = 40

    def validate(self, span: str, text: str, start: int) -> bool:
        if not ssn.is_valid(_digits(span)):
            return False
        return not span.isdigit() or self._context.search(text, max(0, start - self.CONTEXT_CHARS), start) is not None


EMAIL = EmailRecognizer()
PHONE = PhoneRecognizer()
# Where two recognizers claim the same span (a +86 mobile that happens to pass Luhn), the first one names it.
NUMBER_RECOGNIZERS: tuple[Recognizer, ...] = (CnResidentIdRecognizer(), PHONE, BankCardRecognizer(),
                                              UsSsnRecognizer())
RECOGNIZERS: tuple[Recognizer, ...] = (EMAIL, *NUMBER_RECOGNIZERS)


# ---------------------------------------------------------------- finding and masking
def _normalise(text: str) -> str:
    return text.translate(_FULLWIDTH) if _HAS_FULLWIDTH.search(text) else text


def find_personal_data(text: str, *, guarded: bool = True) -> list[Found]:
    """Non-overlapping spans of personal data, left to right; where two overlap the longer one wins.

    ``guarded=False`` runs every recognizer on every text: the reference the guards are tested against."""
    return _find(_normalise(text), guarded)


def _find(norm: str, guarded: bool = True) -> list[Found]:
    found: list[Found] = []
    if not guarded or "@" in norm or (("t]" in norm or "t)" in norm or "T]" in norm or "T)" in norm)
                                      and _AT_MARK.search(norm)):
        found.extend(Found(s, e, EMAIL) for s, e in EMAIL.find(norm))
    if not guarded:
        for r in NUMBER_RECOGNIZERS:
            found.extend(Found(s, e, r) for s, e in r.find(norm))
    else:
        for run in _NUMBER_RUN.finditer(norm):
            start, end = run.span()
            if _NUMBER_GUARD.search(norm, start, end):
                # Two characters past the run: what the patterns' look-aheads read (never part of a match).
                endpos = min(len(norm), end + 2)
                for r in NUMBER_RECOGNIZERS:
                    found.extend(Found(s, e, r) for s, e in r.find(norm, start, endpos))
    if len(found) < 2:
        return found
    found.sort(key=lambda f: (f.start, f.start - f.end))
    kept, last = [], 0
    for f in found:
        if f.start >= last:
            kept.append(f)
            last = f.end
    return kept


def mask_text(text: str, *, guarded: bool = True) -> str:
    norm = _normalise(text)
    found = _find(norm, guarded)
    if not found:
        return text
    out, last = [], 0
    for f in found:
        out.append(text[last:f.start])
        out.append(f.recognizer.mask(text[f.start:f.end], norm[f.start:f.end]))
        last = f.end
    out.append(text[last:])
    return "".join(out)


def is_phone_number(text: str) -> bool:
    """The whole of ``text`` is a phone number (CN, US, GB or international) by :class:`PhoneRecognizer`."""
    return PHONE.validate(_normalise(text.strip()), text, 0)


# ---------------------------------------------------------------- identifiers
def id_hash_key() -> str:
    return os.environ.get(ID_HASH_KEY_ENV) or DEFAULT_ID_HASH_KEY


def mask_identifier(value: str, key: str | None = None) -> str:
    """An identifier that contains personal data (a phone number, e-mail, ID or card number) becomes
    ``id-`` and the first 16 hex digits of its HMAC-SHA256 under ``key`` (default: ``TRIAGE_ID_HASH_KEY``, or
    the documented local default); other ids, and ids already hashed, are returned unchanged."""
    if not looks_like_personal_data(value):
        return value
    key = key or id_hash_key()
    return "id-" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def looks_like_personal_data(value: str) -> bool:
    """An identifier that :func:`mask_identifier` would replace (already hashed ids do not count)."""
    return len(value) >= 6 and not _HASHED_ID.fullmatch(value) and bool(find_personal_data(value))


def identifiers_need_masking(*ids: str | None) -> bool:
    return any(i is not None and looks_like_personal_data(i) for i in ids)


# ---------------------------------------------------------------- decisions
def mask_signals(signals: dict[str, Any], raw: str, masked: str) -> dict[str, Any]:
    """Evidence quotes the raw text; re-quote it from the masked text so no fragment of a number survives."""
    out = dict(signals)
    evidence = []
    for hit in signals.get("evidence", []):
        hit = dict(hit)
        start, end = hit.get("start"), hit.get("end")
        if isinstance(start, int) and isinstance(end, int) and raw[start:end] == hit.get("text"):
            hit["text"] = masked[start:end]
        else:
            hit["text"] = mask_text(str(hit.get("text", "")))
        evidence.append(hit)
    out["evidence"] = evidence
    for key in ("amounts", "dates"):
        out[key] = [{**item, "text": mask_text(item["text"])} if isinstance(item.get("text"), str) else item
                    for item in signals.get(key, [])]
    return out


def mask_decision(decision: dict[str, Any], raw: str, masked: str | None = None, *,
                  id_key: str | None = None) -> tuple[dict[str, Any], str]:
    """The form of a decision that may be stored or written out, and the masked text it quotes (pass
    ``masked`` when the caller has already masked ``raw``): evidence re-quoted from the masked text (an id
    quoted in the text is masked there like any number), and the complaint id and ``exclude_handlers``
    hashed when they are personal data."""
    masked = mask_text(raw) if masked is None else masked
    out = {**decision, "signals": mask_signals(decision["signals"], raw, masked)}
    if isinstance(decision.get("id"), str):
        out["id"] = mask_identifier(decision["id"], id_key)
    out["exclude_handlers"] = [mask_identifier(h, id_key) if isinstance(h, str) else h
                               for h in decision.get("exclude_handlers", [])]
    return out, masked

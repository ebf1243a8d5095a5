"""Personal data in complaint text is masked before it is stored or logged (policy.md, Confidentiality).

Masking keeps the text's length and separators and only replaces characters with ``*``, so character
offsets computed on the raw text (signal evidence spans) still point at the same place in the masked text.
A short suffix survives (last 4 digits, the e-mail domain) so an agent can still match a number the customer
reads out. Over-masking an order number is an acceptable cost; leaking a phone number is not.
"""

from __future__ import annotations

import re
from typing import Any

KEEP_DIGITS = 4

_EMAIL = r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
# Chinese resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, checksum digit or X.
_CN_ID = r"(?P<cnid>(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z]))"
# Bank cards: 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = r"(?P<card>(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d]))"
# Chinese mobile, optionally +86 / 0086, optionally split 3-4-4.
_CN_MOBILE = r"(?P<mobile>(?<!\d)(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d))"
# Chinese landline 0xx(x)-xxxxxxx(x) and international / North American numbers with separators.
_PHONE = (
    r"(?P<phone>(?<![\dA-Za-z])(?:0\d{2,3}-\d{7,8}"
    r"|\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d){6,11}"
    r"|(?:1[ .-])?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}"
    r"|\(\d{3}\)\d{3}-?\d{4})(?!\d))"
)
_PATTERN = re.compile("|".join((_EMAIL, _CN_ID, _CARD, _CN_MOBILE, _PHONE)))
# Without an "@" no e-mail can match, and every number pattern starts with a digit, "+" or "(": testing that
# first spares the regex engine four alternatives at every other position (about 10x on a long complaint).
_NUMBERS = re.compile(r"(?=[\d+(])(?:" + "|".join((_CN_ID, _CARD, _CN_MOBILE, _PHONE)) + ")")
_DIGIT = re.compile(r"\d")


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


def _replace(m: re.Match[str]) -> str:
    s = m.group(0)
    if m.lastgroup == "email":
        local, _, domain = s.partition("@")
        return "*" * len(local) + "@" + domain
    return _star_keep_suffix(s)


def mask_text(text: str) -> str:
    if "@" in text:
        return _PATTERN.sub(_replace, text)
    if _DIGIT.search(text) is None:
        return text
    return _NUMBERS.sub(_replace, text)


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


def mask_decision(decision: dict[str, Any], raw: str, masked: str | None = None) -> tuple[dict[str, Any], str]:
    """The form of a decision that may be stored or written out, and the masked text it quotes (pass
    ``masked`` when the caller has already masked ``raw``)."""
    masked = mask_text(raw) if masked is None else masked
    return {**decision, "signals": mask_signals(decision["signals"], raw, masked)}, masked

from datetime import date

import pytest

from complaint_triage.triage.signals import extract_signals, find_amounts, parse_zh_number

REF = date(2026, 11, 24)


@pytest.mark.parametrize(
    "text, lang, flag, expected",
    [
        # zh threats and their negations
        ("再不处理我就去12315投诉你们", "zh", "regulator_threat", True),
        ("我已经向消协反映了", "zh", "regulator_threat", True),
        ("我的手机号13812345678,订单一直没到", "zh", "regulator_threat", False),
        ("我要请律师起诉你们", "zh", "legal_threat", True),
        ("我不想找律师,只想解决问题", "zh", "legal_threat", False),
        ("法院已经立案了,下周开庭", "zh", "legal_action_filed", True),
        ("再不解决我就找媒体曝光", "zh", "media_threat", True),
        ("视频已经上了热搜", "zh", "media_exposure", True),
        ("充电器冒烟了,孩子手被烫伤", "zh", "injury", True),
        ("还好没有人受伤", "zh", "injury", False),
        ("这是我第三次投诉了", "zh", "repeat", True),
        ("我们小区三户业主联名投诉", "zh", "collective", True),
        ("再不退钱我就去你们公司拉横幅", "zh", "extreme_action", True),
        ("要求全额退款", "zh", "refund_request", True),
        ("我不需要退款,只要一个道歉", "zh", "refund_request", False),
        ("电梯困人半个小时没人管", "zh", "injury", True),
        # en threats and their negations
        ("I will file a complaint with the CFPB", "en", "regulator_threat", True),
        ("I am reporting this to the Better Business Bureau", "en", "regulator_threat", True),
        ("My lawyer will be in touch", "en", "legal_threat", True),
        ("No lawyer needed, just fix it", "en", "legal_threat", False),
        ("I don't want to sue anyone, I want my bill corrected", "en", "legal_threat", False),
        ("I won't hesitate to sue", "en", "legal_threat", True),
        ("We have filed a lawsuit in county court", "en", "legal_action_filed", True),
        ("I'm going to the media with this", "en", "media_threat", True),
        ("My video about this went viral", "en", "media_exposure", True),
        ("The charger caught fire and my son got hurt", "en", "injury", True),
        ("Luckily nobody was injured", "en", "injury", False),
        ("This is the third time I am writing about this", "en", "repeat", True),
        ("We residents of building C are fed up", "en", "collective", True),
        ("I want a full refund", "en", "refund_request", True),
        ("I haven't received my refund yet", "en", "refund_request", True),
        ("I don't want a refund, just an apology", "en", "refund_request", False),
        ("If this goes on I will kill myself", "en", "extreme_action", True),
        ("The app crashed while I was paying", "en", "injury", False),
    ],
)
def test_flags(text, lang, flag, expected):
    assert getattr(extract_signals(text, lang, REF), flag) is expected


@pytest.mark.parametrize(
    "text, value, currency",
    [
        ("花了3999元", 3999, "CNY"),
        ("两百块的东西", 200, "CNY"),
        ("¥1.5万", 15000, "CNY"),
        ("RMB 1,200", 1200, "CNY"),
        ("charged $45.99", 45.99, "USD"),
        ("a {$2,870.00} withdrawal", 2870, "USD"),
        ("I lost 2k on this", 2000, None),
        ("USD 300", 300, "USD"),
        ("300 dollars", 300, "USD"),
        ("€50 fee", 50, "EUR"),
    ],
)
def test_amounts(text, value, currency):
    [(_, _, amount)] = find_amounts(text)
    assert amount.value == pytest.approx(value)
    assert amount.currency == currency


def test_no_amount_in_plain_numbers():
    assert find_amounts("order 123456 arrived on floor 3") == []


@pytest.mark.parametrize("text, value", [("两百", 200), ("三千五百", 3500), ("十二", 12), ("一万二千", 12000)])
def test_parse_zh_number(text, value):
    assert parse_zh_number(text) == value


@pytest.mark.parametrize(
    "text, lang, expected",
    [
        ("5个月前买的", "zh", date(2026, 6, 27)),
        ("2026年3月5日下单", "zh", date(2026, 3, 5)),
        ("3月5号下单", "zh", date(2026, 3, 5)),
        ("上周五收到", "zh", date(2026, 11, 20)),
        ("昨天", "zh", date(2026, 11, 23)),
        ("It started last March", "en", date(2026, 3, 1)),
        ("on 03/14/2025 I paid", "en", date(2025, 3, 14)),
        ("two weeks ago", "en", date(2026, 11, 10)),
        ("on March 14, 2025", "en", date(2025, 3, 14)),
        ("2026-01-02", "en", date(2026, 1, 2)),
    ],
)
def test_incident_date(text, lang, expected):
    assert extract_signals(text, lang, REF).incident_date == expected


def test_redacted_dates_are_kept_unresolved():
    s = extract_signals("On XX/XX/XXXX I called again", "en", REF)
    assert [d.text for d in s.dates] == ["XX/XX/XXXX"]
    assert s.dates[0].date is None and s.incident_date is None


def test_may_the_verb_is_not_a_date():
    assert extract_signals("You may call me back", "en", REF).dates == []


def test_evidence_points_into_the_text():
    text = "I will contact my lawyer about the $300 charge"
    s = extract_signals(text, "en", REF)
    for hit in s.evidence:
        assert text[hit.start : hit.end] == hit.text
    assert {h.signal for h in s.evidence} >= {"legal_threat", "amount"}


def test_the_date_guard_only_skips_positions_where_no_date_starts(corpus, signal_cases):
    """The first-character guard is an optimisation: without it the same dates must be found."""
    import re

    from complaint_triage.triage.signals import _DATE_RE

    unguarded = re.compile(_DATE_RE.pattern[_DATE_RE.pattern.index("(?:(?P<iso>"):], re.IGNORECASE)
    texts = [it.text for it in corpus[::3]] + [c["text"] for c in signal_cases]
    texts += ["Last May, on May 3rd 2024, two weeks ago", "XX/XX/2023 and 03/14", "上周五和三个月前"]
    for t in texts:
        assert [m.span() for m in _DATE_RE.finditer(t)] == [m.span() for m in unguarded.finditer(t)], t


def test_patterns_on_the_lowered_text_equal_ignorecase(corpus, signal_cases):
    """Context patterns run on the lower-cased text for speed; they must find exactly what re.IGNORECASE finds."""
    from complaint_triage.triage.signals import matchers

    for lang in ("zh", "en"):
        m = matchers(lang)
        texts = [c["text"] for c in signal_cases if c["lang"] == lang]
        texts += [it.text for it in corpus[::7] if it.lang == lang] + ["THE WHOLE FLAT REEKS OF GAS", "I Will SUE You"]
        for rx in [*m.patterns.values(), *m.vetoes.values()]:
            for t in texts:
                assert len(t.lower()) == len(t)
                fast = [x.span() for x in rx.finditer(t, t.lower())]
                assert fast == [x.span() for x in rx.any_case.finditer(t)], t

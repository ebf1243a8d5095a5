"""Personal data masking (issue 11, items 8 and 9): each recognizer's formats, the numbers that must stay
readable, identifiers replaced by a keyed hash, and amounts that are phone numbers."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from stdnum import luhn

from complaint_triage.masking import (
    DEFAULT_ID_HASH_KEY,
    ID_HASH_KEY_ENV,
    find_personal_data,
    is_phone_number,
    mask_decision,
    mask_identifier,
    mask_text,
)

# (kind, text, the personal data in it)
POSITIVES = [
    # e-mail: plain, spelled-out "at", full-width @
    ("email", "mail zhang.san@example.com please", "zhang.san@example.com"),
    ("email", "邮箱zhang_san88@qq.com，谢谢", "zhang_san88@qq.com"),
    ("email", "write to j.doe+complaints@mail.co.uk.", "j.doe+complaints@mail.co.uk"),
    ("email", "CONTACT: Li.Wei@Example.ORG", "Li.Wei@Example.ORG"),
    ("email", "reach me at zhang [at] example.com", "zhang [at] example.com"),
    ("email", "reach me at zhang(at)example.com", "zhang(at)example.com"),
    ("email", "mail: zhang [AT] example [dot] com", "zhang [AT] example [dot] com"),
    ("email", "邮箱 zhang＠example.com", "zhang＠example.com"),
    ("email", "13812345678@qq.com 是我的邮箱", "13812345678@qq.com"),
    # CN mobiles: bare, spaces, dashes, dots, full-width digits, +86 / 0086
    ("phone", "call 13812345678 now", "13812345678"),
    ("phone", "手机：139 5555 6666。", "139 5555 6666"),
    ("phone", "tel 138-1234-5678", "138-1234-5678"),
    ("phone", "tel 138.1234.5678.", "138.1234.5678"),
    ("phone", "电话１３８１２３４５６７８谢谢", "１３８１２３４５６７８"),
    ("phone", "＋８６ １３８ １２３４ ５６７８", "＋８６ １３８ １２３４ ５６７８"),
    ("phone", "+86 138 1234 5678", "+86 138 1234 5678"),
    ("phone", "+8613812345678", "+8613812345678"),
    ("phone", "0086-138-1234-5678", "0086-138-1234-5678"),
    ("phone", "tel:(+86)13812345678", "(+86)13812345678"),
    # CN landlines
    ("phone", "座机02887654321", "02887654321"),
    ("phone", "座机 0571 87654321", "0571 87654321"),
    ("phone", "座机(021)64567890", "(021)64567890"),
    ("phone", "座机（021）64567890", "（021）64567890"),
    ("phone", "电话010-12345678", "010-12345678"),
    ("phone", "电话 0755-8765-4321", "0755-8765-4321"),
    ("phone", "office +86 21 6456 7890", "+86 21 6456 7890"),
    # US 10-digit, with or without separators or +1
    ("phone", "call 2025550143 today", "2025550143"),
    ("phone", "call 202-555-0143", "202-555-0143"),
    ("phone", "call (202) 555-0143", "(202) 555-0143"),
    ("phone", "call 202.555.0143", "202.555.0143"),
    ("phone", "call +1 202 555 0143", "+1 202 555 0143"),
    ("phone", "call 1-202-555-0143", "1-202-555-0143"),
    ("phone", "call (555) 123-4567", "(555) 123-4567"),
    ("phone", "call +1 (415) 555-2671", "+1 (415) 555-2671"),
    # UK, with or without +44
    ("phone", "ring 020 7946 0958", "020 7946 0958"),
    ("phone", "ring 07700 900123", "07700 900123"),
    ("phone", "ring 07911123456", "07911123456"),
    ("phone", "ring +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "ring +44 7700 900123", "+44 7700 900123"),
    ("phone", "ring +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("phone", "ring 0044 20 7946 0958", "0044 20 7946 0958"),
    # bank cards (Luhn): spaces, dashes, dots, double spaces, bare, 15 and 19 digits, full-width
    ("card", "card 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("card", "card 4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("card", "card 4111.1111.1111.1111", "4111.1111.1111.1111"),
    ("card", "card 4111  1111  1111  1111", "4111  1111  1111  1111"),
    ("card", "卡号4111111111111111被盗刷", "4111111111111111"),
    ("card", "银行卡 6222 0212 3456 7890 128", "6222 0212 3456 7890 128"),
    ("card", "amex 3782 822463 10005", "3782 822463 10005"),
    ("card", "card 5500 0000 0000 0004 on 2025", "5500 0000 0000 0004"),
    ("card", "卡号４１１１１１１１１１１１１１１１", "４１１１１１１１１１１１１１１１"),
    # Chinese resident ID (ISO 7064 check digit)
    ("cn_id", "身份证11010519491231002X", "11010519491231002X"),
    ("cn_id", "身份证号：110105198001010016。", "110105198001010016"),
    ("cn_id", "ID 320106199003071234", "320106199003071234"),
    ("cn_id", "身份证 110105 19491231 002X", "110105 19491231 002X"),
    ("cn_id", "身份证11010519491231002x", "11010519491231002x"),
    # US SSN: dashes, spaces, bare (bare needs the word nearby)
    ("ssn", "SSN 123-45-6789", "123-45-6789"),
    ("ssn", "my ssn is 536 90 4399", "536 90 4399"),
    ("ssn", "social security number 123456789", "123456789"),
    ("ssn", "SSN:536-90-4399.", "536-90-4399"),
]

NEGATIVES = [
    # order and tracking numbers: 13-15 digits failing Luhn, no phone; letters before the digits
    "order 1234567890123",
    "订单号2025031412345已经退款",
    "ISBN 9787111234567",
    "运单号 773012345678901",
    "tracking SF1234567890123",
    "tracking YT2312345678901",
    "UPS 1Z999AA10123456784",
    "order 123456789",  # nine digits without an SSN word are not an SSN
    "order #88231",
    # amounts and prices
    "¥1,200 refund",
    "charged $1,234,567.89 by mistake",
    "refund 1500.00 for order 88231",
    "price 99.99 each, 12,000.50 total",
    "退款13955556666.50元",  # a decimal is no phone
    # dates and times
    "on 2025-03-14 12:30:45",
    "2025/03/14 10:30",
    "03/14/2025",
    "2025年3月14日",
    # short numbers, hotlines
    "12315",
    "call 12345678",
    "客服热线 4008123456",
    "version 1.2.3.4.5.6.7",
]


def _masked_span(kind: str, original: str) -> str:
    """The expected mask: the e-mail's local part starred, or all but the last 4 letters/digits starred."""
    if kind == "email":
        at = re.search(r"@|＠| ?[\[(](?:at|AT)[\])] ?", original)
        assert at is not None
        return "*" * at.start() + original[at.start():]
    total = sum(c.isalnum() for c in original)
    out, seen = [], 0
    for c in original:
        seen += c.isalnum()
        out.append("*" if c.isalnum() and seen <= total - 4 else c)
    return "".join(out)


def test_the_table_is_as_large_as_the_issue_asks():
    assert len(POSITIVES) >= 51 and len(NEGATIVES) >= 15
    assert {k for k, _, _ in POSITIVES} == {"email", "phone", "card", "cn_id", "ssn"}


@pytest.mark.parametrize("kind, text, pii", POSITIVES, ids=[f"{k}:{p}" for k, _, p in POSITIVES])
def test_personal_data_is_masked_keeping_length(kind, text, pii):
    out = mask_text(text)
    i = text.index(pii)
    assert len(out) == len(text)
    assert out[:i] == text[:i] and out[i + len(pii):] == text[i + len(pii):]
    assert out[i:i + len(pii)] == _masked_span(kind, pii)
    assert [f.recognizer.kind for f in find_personal_data(text)] == [kind]
    assert mask_text(text, guarded=False) == out


@pytest.mark.parametrize("text", NEGATIVES)
def test_other_numbers_stay_readable(text):
    assert mask_text(text) == text
    assert mask_text(text, guarded=False) == text
    for run in re.findall(r"\d{13,19}", text):
        assert not luhn.is_valid(run)  # the reason an order number of card length is not a card


def test_masking_is_idempotent_and_keeps_offsets():
    text = "张先生 13812345678，卡 4111 1111 1111 1111，邮箱 zhang@qq.com，订单 1234567890123"
    once = mask_text(text)
    assert mask_text(once) == once and len(once) == len(text)
    assert "1234567890123" in once and "*******5678" in once and "*****@qq.com" in once


# ---------------------------------------------------------------- amounts that are phone numbers
def test_an_amount_that_is_a_phone_number_is_not_an_amount():
    from complaint_triage.triage.signals import find_amounts

    assert is_phone_number("13955556666") and not is_phone_number("2000")
    assert find_amounts("请把钱退到13955556666元") == []
    assert [a.value for _, _, a in find_amounts("请把2000元退到13955556666")] == [2000.0]
    assert [a.value for _, _, a in find_amounts("refund $1,234,567 now")] == [1234567.0]


# ---------------------------------------------------------------- identifiers
@pytest.mark.parametrize("value", ["13911112222", "zhang.san@example.com", "11010519491231002X",
                                   "4111111111111111", "cust-13911112222", "+44 7700 900123"])
def test_identifiers_that_are_personal_data_are_hashed(value, monkeypatch):
    monkeypatch.delenv(ID_HASH_KEY_ENV, raising=False)
    hashed = mask_identifier(value)
    assert re.fullmatch(r"id-[0-9a-f]{16}", hashed)
    assert mask_identifier(value) == hashed == mask_identifier(value, DEFAULT_ID_HASH_KEY)  # stable
    assert mask_identifier(value, "another key") != hashed  # keyed
    assert mask_identifier(hashed) == hashed  # already hashed: unchanged
    monkeypatch.setenv(ID_HASH_KEY_ENV, "from the environment")
    assert mask_identifier(value) == mask_identifier(value, "from the environment") != hashed


@pytest.mark.parametrize("value", ["T-1", "c1", "E17", "line-12", "ORD-2025-000123", "1234567890123",
                                   "3f9a0c2e5b7d41a6b8c9d0e1f2a3b4c5", ""])
def test_ordinary_identifiers_are_unchanged(value):
    assert mask_identifier(value) == value


def test_mask_decision_hashes_id_and_excluded_handlers():
    decision = {"id": "13911112222", "exclude_handlers": ["E17", "zhang@example.com"],
                "signals": {"evidence": [{"signal": "amount", "text": "13911112222", "start": 3, "end": 14}],
                            "amounts": [], "dates": []}}
    raw = "电话是13911112222"
    out, masked = mask_decision(decision, raw, id_key="k")
    assert out["id"] == mask_identifier("13911112222", "k")
    assert out["exclude_handlers"] == ["E17", mask_identifier("zhang@example.com", "k")]
    assert out["signals"]["evidence"][0]["text"] == "*******2222" and masked == "电话是*******2222"
    assert decision["id"] == "13911112222"  # the input is not changed


# ---------------------------------------------------------------- through the API and the batch tool
PHONE_ID = "13911112222"


@pytest.fixture(scope="module")
def decider():
    from complaint_triage.pipeline import Decider

    return Decider()


@pytest.fixture
def client(tmp_path, decider):
    from complaint_triage.service.api import create_app
    from complaint_triage.service.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ids.db'}", log_level="WARNING",
                        id_hash_key="test key")
    return create_app(settings, decider).test_client()


def _post(client, path, body):
    return client.post(path, data=json.dumps(body, ensure_ascii=False), content_type="application/json")


def test_api_stores_and_returns_a_phone_number_id_hashed(client):
    hashed = mask_identifier(PHONE_ID, "test key")
    body = {"id": PHONE_ID, "text": "客服态度很差，请把钱退到13955556666元", "subject_employee_id": PHONE_ID}
    first = _post(client, "/v1/triage", body)
    assert first.status_code == 201, first.get_data(as_text=True)
    d = first.get_json()
    assert d["id"] == hashed and d["exclude_handlers"] == [hashed]
    assert d["signals"]["amount"] is None  # the phone number is not an amount
    again = _post(client, "/v1/triage", body)
    assert again.status_code == 200 and again.get_json() == d  # stable: the same stored complaint
    stored = client.get(f"/v1/complaints/{PHONE_ID}")  # the raw id still finds it
    assert stored.status_code == 200 and stored.get_json()["id"] == hashed
    assert client.get(f"/v1/complaints/{hashed}").status_code == 200
    assert _post(client, f"/v1/complaints/{PHONE_ID}/feedback", {"note": "ok"}).status_code == 201
    batch = _post(client, "/v1/triage/batch", {"complaints": [{"id": PHONE_ID, "text": "x"},
                                                              {"id": "T-1", "text": "charged twice"}]})
    assert [i["decision"]["id"] for i in batch.get_json()["items"]] == [hashed, "T-1"]
    assert [i["created"] for i in batch.get_json()["items"]] == [False, True]
    everything = json.dumps([d, stored.get_json(), client.get("/v1/complaints").get_json(), batch.get_json()])
    assert PHONE_ID not in everything and "13955556666" not in everything


def test_batch_output_hashes_a_phone_number_id(tmp_path, monkeypatch):
    from complaint_triage.batch.cli import batch

    monkeypatch.setenv(ID_HASH_KEY_ENV, "batch key")
    out = tmp_path / "out.jsonl"
    rows = [{"id": PHONE_ID, "text": "The courier was rude.", "subject_employee_id": "zhang@example.com"},
            {"id": "T-2", "text": "The courier was rude."}]
    r = CliRunner().invoke(batch, ["-", "-o", str(out), "--workers", "1", "--no-progress"],
                           input="".join(json.dumps(x) + "\n" for x in rows), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [w["id"] for w in written] == [mask_identifier(PHONE_ID, "batch key"), "T-2"]
    assert written[0]["exclude_handlers"] == [mask_identifier("zhang@example.com", "batch key")]
    assert PHONE_ID not in out.read_text(encoding="utf-8") and "zhang@" not in out.read_text(encoding="utf-8")

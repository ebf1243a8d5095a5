import pytest

from complaint_triage.triage.language import detect_language


@pytest.mark.parametrize(
    "text, expected",
    [
        # zh, simplified and traditional, and code-switched
        ("快递三天了还没到,客服也不回复", "zh"),
        ("房間很髒,冷氣也壞了,服務態度極差", "zh"),
        ("我的refund一直没到账,order号是12345,app也打不开", "zh"),
        ("差评", "zh"),
        # en, including terse, redacted and tweet style
        ("I was charged twice for the same order and nobody will help me.", "en"),
        ("On XX/XX/XXXX my account ending XXXX was debited {$500.00} without my consent.", "en"),
        ("@airline lost my bag again. thanks for nothing", "en"),
        ("worst service ever", "en"),
        # unsupported
        ("Am fost taxat de două ori pentru aceeași comandă și nimeni nu mă ajută.", None),
        ("Le colis n'est jamais arrivé et le service client ne répond pas.", None),
        ("荷物が届きません。カスタマーサービスも対応してくれません。", None),
        ("배송이 너무 늦어요 환불해 주세요", None),
        ("Посылка не пришла, верните деньги", None),
        ("12345 !!! ???", None),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text).language == expected

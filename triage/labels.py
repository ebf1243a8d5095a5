"""The label sets are the public contract (policy.md); everything else refers to these."""

from typing import Literal, get_args

Category = Literal[
    "product_quality",
    "delivery",
    "billing",
    "refund_return",
    "service_attitude",
    "account_security",
    "safety",
    "facilities",
    "other",
]
Severity = Literal["low", "medium", "high", "critical"]
Lang = Literal["zh", "en"]

CATEGORIES: tuple[str, ...] = get_args(Category)
SEVERITIES: tuple[str, ...] = get_args(Severity)
LANGUAGES: tuple[str, ...] = get_args(Lang)


def severity_rank(label: str) -> int:
    return SEVERITIES.index(label)

"""The label sets are the public contract (policy.md); everything else refers to these tuples."""

from typing import Literal

CATEGORIES: tuple[str, ...] = (
    "product_quality",
    "delivery",
    "billing",
    "refund_return",
    "service_attitude",
    "account_security",
    "safety",
    "facilities",
    "other",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
LANGUAGES: tuple[str, ...] = ("zh", "en")

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


def severity_rank(label: str) -> int:
    return SEVERITIES.index(label)

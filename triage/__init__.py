"""Text → language, tokens, signals, category and severity."""

from complaint_triage.contract import CATEGORIES, SEVERITIES, LANGUAGES

__all__ = ["CATEGORIES", "SEVERITIES", "LANGUAGES"]

"""Text → language, tokens, signals, category and severity."""

from complaint_triage.contract import CATEGORIES, LANGUAGES, SEVERITIES

__all__ = ["CATEGORIES", "SEVERITIES", "LANGUAGES"]

"""Text → language, tokens, signals, category and severity."""

from triage.labels import CATEGORIES, SEVERITIES, LANGUAGES

__all__ = ["CATEGORIES", "SEVERITIES", "LANGUAGES"]

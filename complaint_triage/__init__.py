"""complaint-triage: text → triage (language, signals, category, severity) → rules (policy) → decision.

One import root for the whole distribution; the folders of the repository map into it (pyproject.toml).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("complaint-triage")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"

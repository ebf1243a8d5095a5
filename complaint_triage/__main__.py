"""``python -m complaint_triage``: the same command line as ``complaint-triage``."""

from complaint_triage.cli import main

main()

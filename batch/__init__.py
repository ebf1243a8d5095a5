"""Batch triage of historical backlogs and the reports built from its output."""

"""The shipped model: arrays and JSON written by ``complaint-triage train``, with their model card."""

from pathlib import Path

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent

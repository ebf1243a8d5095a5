"""The shipped model: arrays and JSON written by ``complaint-triage train``, with their model card."""

from pathlib import Path

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent
# The one environment variable the CLI, batch and the service read for another model directory.
MODEL_DIR_ENV = "TRIAGE_MODEL_DIR"

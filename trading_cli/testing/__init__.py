"""What ``trading test`` runs: module test selection and the CI steps."""

from pathlib import Path

from trading_api.conventions import RUN_DIR  # noqa: TID253 (standard library only)

DURATIONS_FILE = Path(RUN_DIR) / "test-durations.json"
"""Seconds per test file (its path from the root folder), as the project's
pytest plugin recorded them; the next full run starts the longest files first."""

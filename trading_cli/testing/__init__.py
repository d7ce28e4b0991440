"""What ``trading test`` runs: module test selection and the CI steps."""

from pathlib import Path

DURATIONS_FILE = Path(".run") / "test-durations.json"
"""Seconds per test file (its path from the root folder), as the project's
pytest plugin recorded them; the next full run starts the longest files first."""

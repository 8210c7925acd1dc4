"""Shared setup of the end-to-end tests (see runner.py for the binary)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import SLUICE  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    if not os.access(SLUICE, os.X_OK):
        pytest.fail(f"sluice binary not found at {SLUICE} "
                    "(set SLUICE_BUILD_DIR or SLUICE_BIN)", pytrace=False)

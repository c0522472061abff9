"""Per-test results for the table of docs/SECURITY.md (tests/suite_results.py)."""
from suite_results import pytest_runtest_logreport  # noqa: F401

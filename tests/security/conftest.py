"""The results table of docs/SECURITY.md is checked by these suites (tests/suite_results.py)."""
from suite_results import (  # noqa: F401
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

"""The results table of this page is current: every suite module with its number of cases.

A plain run never rewrites the page (tests/suite_results.py): it is compared here instead."""
from __future__ import annotations

import pytest

import suite_results


def test_the_table_lists_every_suite_module_with_its_cases():
    if not suite_results.complete():
        pytest.skip("checked when the run collects all of tests/security and tests/reliability")
    documented = suite_results.documented_cases()
    expected = {module: (cases, cases) for module, cases in suite_results.collected_cases().items()}
    assert documented == expected, (
        f"docs/SECURITY.md's results table is out of date; put this between its `results` markers "
        f"(or run `{suite_results.WRITE_COMMAND}`):\n{suite_results.table(all_passed=True)}"
    )

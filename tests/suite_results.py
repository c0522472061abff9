"""The results table of docs/SECURITY.md: each module of tests/security and tests/reliability,
its cases and passes. A run that collected every test of both without deselection compares its
table with the page's, and says so at the end when they differ; it rewrites the page only when
asked (OSS_SIDECAR_TEST_WRITE_DOCS=1), so that a run leaves the checkout as it found it.
tests/security/test_results_table.py fails when the page lists other modules or case counts.

The hooks are imported by tests/security/conftest.py (all of them) and
tests/reliability/conftest.py (the per-test report, which pytest only gives the conftests
of the test's own folder)."""
from __future__ import annotations

import ast
import os
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("tests/security", "tests/reliability")
DOC = ROOT / "docs" / "SECURITY.md"
_MARKERS = re.compile(r"(<!-- results:start -->\n).*?(<!-- results:end -->)", re.DOTALL)

_cases: dict[str, set[str]] = defaultdict(set)
_passed: dict[str, set[str]] = defaultdict(set)
_failed: dict[str, set[str]] = defaultdict(set)
_complete = {"value": False}
_difference: list[str] = []
WRITE_VARIABLE = "OSS_SIDECAR_TEST_WRITE_DOCS"
WRITE_COMMAND = f"{WRITE_VARIABLE}=1 python3 -m pytest tests/security tests/reliability"


def _module(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.startswith(SUITES) else None


def pytest_collection_modifyitems(session, config, items):
    suites = [i for i in items if _module(i.nodeid)]
    for item in suites:
        _cases[_module(item.nodeid)].add(item.nodeid)
    files = {p.relative_to(ROOT).as_posix() for s in SUITES for p in (ROOT / s).glob("test_*.py")}
    _complete["value"] = files <= set(_cases) and not config.getoption("keyword") and not config.getoption("markexpr")


def pytest_runtest_logreport(report):
    module = _module(report.nodeid)
    if module is None:
        return
    if report.failed:
        _failed[module].add(report.nodeid)
    elif report.passed and report.when == "call":
        _passed[module].add(report.nodeid)


def _summary(module: str) -> str:
    doc = ast.get_docstring(ast.parse((ROOT / module).read_text())) or ""
    sentence = " ".join(doc.split()).split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= 160 else sentence[:157].rsplit(" ", 1)[0] + " …"


def complete() -> bool:
    """Whether this session collected every test of the suites (the table's condition)."""
    return _complete["value"]


def collected_cases() -> dict[str, int]:
    return {module: len(cases) for module, cases in _cases.items()}


def documented_cases() -> dict[str, tuple[int, int]]:
    """{module: (cases, passed)} of the page's table."""
    match = _MARKERS.search(DOC.read_text())
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (\d+) \| (\d+) \|$", match.group(0) if match else "", re.MULTILINE)
    return {module: (int(cases), int(passed)) for module, cases, passed in rows}


def table(all_passed: bool = False) -> str:
    """The table of this run, or (all_passed) the one a run where every case passes would write."""
    rows = ["| suite | what it proves | cases | passed |", "|---|---|---|---|"]
    for module in sorted(_cases):
        passed = len(_cases[module]) if all_passed else len((_passed[module] & _cases[module]) - _failed[module])
        rows.append(f"| `{module}` | {_summary(module)} | {len(_cases[module])} | {passed} |")
    total = sum(len(v) for v in _cases.values())
    passed = total if all_passed else sum(len((_passed[m] & _cases[m]) - _failed[m]) for m in _cases)
    rows.append(f"| **all** | | **{total}** | **{passed}** |")
    return "\n".join(rows) + "\n"


def pytest_sessionfinish(session, exitstatus):
    if not _complete["value"] or session.config.option.collectonly or not DOC.is_file():
        return
    text = DOC.read_text()
    updated = _MARKERS.sub(lambda m: m.group(1) + table() + m.group(2), text)
    if updated == text:
        return
    if os.environ.get(WRITE_VARIABLE) == "1":
        DOC.write_text(updated)
        _difference.append(f"{DOC.relative_to(ROOT)}: results table rewritten")
    else:
        _difference.append(f"{DOC.relative_to(ROOT)}: this run's results differ from the page's table "
                           f"(left as it is; `{WRITE_COMMAND}` rewrites it):\n{table()}")


def pytest_terminal_summary(terminalreporter):
    for line in _difference:
        terminalreporter.write_line(line)

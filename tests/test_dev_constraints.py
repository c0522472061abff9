"""constraints/dev.txt (what scripts/test.sh installs with `pip -c`) pins every requirement of
the dev extra, at a version pyproject.toml allows: a requirement added or changed without
re-locking fails here, naming the command that re-locks."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RELOCK = "bash scripts/relock.sh --no-test"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "dev.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):  # the pins for this machine
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _dev_requirements() -> list[Requirement]:
    """The dev extra, with the project's own extras it names (oss-sidecar[rag]) unfolded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    todo, seen, out = ["dev"], set(), [Requirement(r) for r in project["dependencies"]]
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for text in extras[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == canonicalize_name(project["name"]):
                todo += [e for e in req.extras if e not in seen]
            else:
                out.append(req)
    return out


def test_every_dev_requirement_is_pinned_at_an_allowed_version():
    pins = _pins()
    wrong = []
    for req in _dev_requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            wrong.append(f"{req} is not in constraints/dev.txt")
        elif not req.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{req}: constraints/dev.txt pins {pinned}")
    assert not wrong, f"re-lock with `{RELOCK}`: " + "; ".join(wrong)


def test_the_lock_says_how_it_was_made():
    head = (ROOT / "constraints" / "dev.txt").read_text().splitlines()[:2]
    assert head[1].strip("# ") == "bash scripts/relock.sh", head

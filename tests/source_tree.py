"""A copy of the source tree as a clean clone has it, for tests that build or install from it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Used only where git cannot list the files (an export without .git): what .gitignore leaves out.
_IGNORED = shutil.ignore_patterns(".git", ".cache", "node_modules", "__pycache__", "*.egg-info", ".venv", "venv",
                                  "build", "dist", ".pytest_cache", "out", "*.vsix", "*.gguf", "models")


def copy_source(dest: Path) -> Path:
    """Tracked files plus new files git does not ignore, so uncommitted work is tested too."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=ROOT, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, dest, ignore=_IGNORED, dirs_exist_ok=True)
        return dest
    for raw in filter(None, listing.split(b"\0")):
        src = ROOT / raw.decode()
        if src.is_file():  # not deleted in the work tree
            target = dest / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest

"""llama.cpp's own HTTP server (bench/llamacpp_peer.py) in its own process, for tests that
compare the gateway with it or put it behind the gateway as an upstream: the gateway's embedded
listener is private."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_llamacpp_server(*args: str) -> Iterator[str]:
    """Its URL while it runs; `args` are bench/llamacpp_peer.py's (slots, context, threads)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "llamacpp_peer.py"), *args, "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), f"llama.cpp's server exited with {proc.poll()}"
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(30)

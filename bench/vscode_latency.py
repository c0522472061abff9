"""The VS Code extension in real VS Code (code-server 4.139.1 in headless Chromium, the same
harness as tests/vscode): how long activation takes, keystroke -> ghost text on screen, and
Ask AI -> the first answer text in the panel, against a gateway with the default model.

    bash scripts/test-vscode.sh -k nothing    # installs code-server once (.cache/vscode-test)
    python bench/vscode_latency.py            # starts its own gateway and code-server
    python bench/vscode_latency.py --samples 20 --asks 5

* activation: VS Code's own log (code-server runs with ``--log trace``): the extension's module
  loaded (``_doActivateExtension`` -> ``_callActivateOptional``), then activate() until the
  language server answered ``initialize`` and reported the gateway ready (the extension's log);
  and page opened -> the status-bar item drawn (the whole workbench, as a user waits for it).
* ghost text: Enter at the end of a ``def`` line (a new file each time), from the keydown event (a capturing
  listener in the page) to the first ghost-text element in the editor's DOM (a
  MutationObserver), both on the page's clock. Each sample is a new function name, so the
  language server's cache never answers.
* Ask AI: Enter in the question box -> the first non-empty answer text in the panel's webview
  (polled every 20 ms from here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "vscode"))
sys.path.insert(0, str(ROOT / "bench"))

from local_gateway import pct, start_gateway  # noqa: E402

from vscode_host import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    GREETER,
    CodeServer,
    Workbench,
    missing,
    vsix,
    wait_for,
)

WATCH_GHOST = """() => new Promise((resolve) => {
  window.__ossKeydown = undefined;
  document.addEventListener('keydown', () => { window.__ossKeydown = performance.now(); },
                            { capture: true, once: true });
  const found = () => document.querySelector('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text');
  const observer = new MutationObserver(() => {
    if (window.__ossKeydown !== undefined && found()) {
      observer.disconnect();
      window.__ossGhost = performance.now();
    }
  });
  window.__ossGhost = undefined;
  observer.observe(document.body, { childList: true, subtree: true });
  resolve(true);
})"""


def stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def activation(server: CodeServer) -> dict[str, float]:
    logs = server.user_data / "logs"
    host = "\n".join(p.read_text() for p in logs.glob("*/exthost1/remoteexthost.log"))
    ours = "\n".join(p.read_text() for p in logs.glob("*/exthost1/oss-sidecar.oss-sidecar/*.log"))
    load = next(ln for ln in host.splitlines() if "_doActivateExtension oss-sidecar.oss-sidecar" in ln)
    call = next(ln for ln in host.splitlines() if "_callActivateOptional oss-sidecar.oss-sidecar" in ln)
    initialized = next(ln for ln in ours.splitlines() if "Received response 'initialize" in ln)
    status = next(ln for ln in ours.splitlines() if "Received notification 'ossSidecar/status'" in ln)
    return {
        "module_load_ms": (stamp(call) - stamp(load)) * 1000,
        "activate_to_initialized_ms": (stamp(initialized) - stamp(call)) * 1000,
        "activate_to_ready_ms": (stamp(status) - stamp(call)) * 1000,
    }


def ghost_samples(bench: Workbench, folder: Path, n: int) -> list[float]:
    out = []
    for i in range(n):
        name = f"typing_{i}.py"
        (folder / name).write_text(f"import math\n\n\ndef circle_area_{i}(radius_{i}):\n")
        bench.open_file(name)
        bench.go_to(4, 1)
        bench.page.keyboard.press("End")
        time.sleep(1.0)  # the document is open on the server
        bench.page.evaluate(WATCH_GHOST)
        bench.page.keyboard.press("Enter")
        try:
            wait_for(lambda: bench.page.evaluate("window.__ossGhost"), 60, "ghost text", interval=0.05)
        except AssertionError:
            print(f"sample {i}: no ghost text within 60 s", file=sys.stderr)
            continue
        out.append(bench.page.evaluate("window.__ossGhost - window.__ossKeydown"))
        bench.page.keyboard.press("Escape")
        bench.palette("View: Close All Editors")
    return out


def ask_samples(bench: Workbench, n: int) -> list[float]:
    out = []
    bench.open_file("greeter.py")
    for i in range(n):
        bench.select_lines(2, 4)
        bench.palette("oss-sidecar: Ask AI")
        bench.quick_input().fill(f"What does greet return? ({i})")
        frame = bench.webview("Ask AI")
        start = time.monotonic()
        bench.page.keyboard.press("Enter")
        if i > 0:  # the panel shows the previous answer until the new question is in
            frame.locator("#question").filter(has_text=f"({i})").wait_for(timeout=60000)
        answer = frame.locator("#answer")
        wait_for(lambda: answer.count() and answer.inner_text().strip(), 120, "the first answer text", interval=0.02)
        out.append((time.monotonic() - start) * 1000)
        wait_for(lambda: not frame.locator("#stop").is_visible(), 240, "the answer to finish")
        bench.editor().click()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=15, help="ghost-text samples")
    parser.add_argument("--asks", type=int, default=5, help="Ask AI samples")
    args = parser.parse_args()
    why = missing()
    if why:
        print(why, file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="oss-vscode-bench-"))
    gateway, url = start_gateway(base / "gateway.log")
    folder = base / "project"
    folder.mkdir()
    (folder / "greeter.py").write_text(GREETER)
    server = CodeServer(base, folder, {"ossSidecar.gatewayUrl": url})
    os.environ["OSS_VSCODE_LOG"] = "--log trace"  # the activation timestamps
    server.install_extension(vsix())
    server.start()
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        bench = Workbench(page, server)
        opened = time.monotonic()
        bench.open()
        item_ms = (time.monotonic() - opened) * 1000
        bench.wait_status(r"^\S* ?oss-sidecar$", timeout=120)
        act = activation(server)
        ghost = ghost_samples(bench, folder, args.samples)
        asks = ask_samples(bench, args.asks)
    finally:
        browser.close()
        pw.stop()
        server.stop()
        gateway.terminate()
        gateway.wait(30)
    result = {
        "page_open_to_status_item_ms": round(item_ms),
        **{k: round(v) for k, v in act.items()},
        "ghost_text_ms": {"n": len(ghost), "p50": round(statistics.median(ghost)) if ghost else None,
                          "p95": round(pct(ghost, 0.95)) if ghost else None,
                          "min": round(min(ghost)) if ghost else None, "max": round(max(ghost)) if ghost else None},
        "ask_first_text_ms": {"n": len(asks), "p50": round(statistics.median(asks)),
                              "min": round(min(asks)), "max": round(max(asks))},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "vscode": "code-server 4.139.1 (VS Code 1.139.1)",
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""VS Code itself (code-server 4.139, VS Code 1.139 in the browser) driven through Debian's
Chromium by Playwright, as a user drives it: the palette, the keyboard, the mouse.

scripts/test-vscode.sh installs code-server and its Node 24 into .cache/vscode-test/; without them
(or without Chromium, Playwright or the built .vsix) the tests skip and name what to run. The
extension's language server is this checkout's (``oss-sidecar`` on PATH is a shim that runs
``python -m gateway.cli`` here, as in tests/editors).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "vscode-test"
NODE24_BIN = CACHE / "node24" / "node_modules" / ".bin"
CODE_SERVER = CACHE / "code-server" / "node_modules" / ".bin" / "code-server"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("OSS_VSCODE_ARTIFACTS", "/tmp/oss-sidecar-vscode-screenshots"))
INSTALL = "bash scripts/test-vscode.sh"

# The file a user is editing: a method inside a class (indented), a function at top level.
GREETER = '''class Greeter:
    def greet(self, name):
        message = "Hello, " + name
        return message


def add(a, b):
    return a + b
'''


def missing() -> Optional[str]:
    """Why these tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        return f"Chromium is missing at {CHROMIUM} (apt-get install chromium; {INSTALL} does it as root)"
    if not (CODE_SERVER.exists() and (NODE24_BIN / "node").exists()):
        return f"code-server is not installed in {CACHE.relative_to(ROOT)} ({INSTALL} installs it, then runs these tests)"
    if vsix() is None:
        return "no vscode-extension/oss-sidecar-*.vsix (bash scripts/test-extension.sh builds it)"
    return None


def vsix() -> Optional[Path]:
    found = sorted((ROOT / "vscode-extension").glob("oss-sidecar-*.vsix"))
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def shim_dir(where: Path) -> Path:
    """A folder whose ``oss-sidecar`` runs this checkout's CLI."""
    where.mkdir(parents=True, exist_ok=True)
    shim = where / "oss-sidecar"
    shim.write_text(f'#!/bin/sh\ncd "{ROOT}" && exec "{sys.executable}" -m gateway.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return where


# Quiet, predictable workbench: no welcome page, no trust prompt, no update or telemetry calls,
# files saved as they change (the tests read the editor's text from disk).
BASE_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "files.autoSave": "afterDelay",
    "files.autoSaveDelay": 200,
    "editor.inlineSuggest.enabled": True,
    "editor.minimap.enabled": False,
    "window.commandCenter": False,
    "chat.commandCenter.enabled": False,
    "ossSidecar.trace.server": "messages",  # the LSP traffic in the test profile's logs
    # VS Code 1.139 opens its own Chat view beside the editor on first start; the answer panel
    # gets that room instead
    "workbench.secondarySideBar.defaultVisibility": "hidden",
}


class CodeServer:
    """One code-server process with a private user-data-dir and extensions-dir, the .vsix
    installed the way a user installs it (``--install-extension``)."""

    def __init__(self, base: Path, folder: Path, settings: dict[str, Any]):
        self.base = base
        self.folder = folder
        self.user_data = base / "user-data"
        self.extensions = base / "extensions"
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.settings_path = self.user_data / "User" / "settings.json"
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/?folder={folder}"
        # VS Code's server gives extensions the PATH of the user's login shell, not its own, so
        # the extension is pointed at the shim by path, as a user with oss-sidecar in a virtual
        # environment points it. ossSidecar.server.path is a machine setting: in a remote window
        # (code-server is one) VS Code reads it from the Remote settings (Machine/), never from
        # the User settings.
        self.shim = shim_dir(base / "bin") / "oss-sidecar"
        machine = self.user_data / "Machine" / "settings.json"
        machine.parent.mkdir(parents=True, exist_ok=True)
        machine.write_text(json.dumps({"ossSidecar.server.path": str(self.shim)}, indent=2))
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(NODE24_BIN), os.environ.get("PATH", "")]),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
        }
        self.write_settings(settings)
        self.log_path = base / "code-server.log"
        self.process: Optional[subprocess.Popen] = None

    def write_settings(self, settings: dict[str, Any]) -> None:
        self.settings = {**BASE_SETTINGS, **settings}
        self.settings_path.write_text(json.dumps(self.settings, indent=2))

    def update_settings(self, **changes: Any) -> None:
        """Edits settings.json as a user's editor (or Settings UI) does; VS Code watches it."""
        self.write_settings({**self.settings, **changes})

    def _cli(self) -> list[str]:
        return [str(CODE_SERVER), "--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]

    def install_extension(self, package: Path) -> str:
        done = subprocess.run(
            [*self._cli(), "--install-extension", str(package)],
            env=self.env, capture_output=True, text=True, timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, timeout: float = 120) -> "CodeServer":
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [*self._cli(), "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             "--disable-getting-started-override", *os.environ.get("OSS_VSCODE_LOG", "").split(), str(self.folder)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"code-server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"code-server not up after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # its own session: the extension host and the language server go with it
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Workbench:
    """The VS Code window in one Chromium tab, used through what a user sees."""

    def __init__(self, page, server: CodeServer):
        self.page = page
        self.server = server
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, timeout: float = 180) -> "Workbench":
        self.page.goto(self.server.url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.locator(".monaco-workbench").wait_for(timeout=timeout * 1000)
        # the extension is active once its status bar item shows
        self.status_item().wait_for(timeout=timeout * 1000)
        return self

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    # -- status bar ----------------------------------------------------------------------------

    def status_item(self):
        return self.page.locator(".statusbar-item").filter(has_text=re.compile("oss-sidecar")).first

    def status_text(self) -> str:
        try:
            return self.status_item().inner_text(timeout=2000).strip()
        except Exception:
            return ""

    def wait_status(self, pattern: str, timeout: float = 60) -> str:
        def matching() -> Optional[str]:
            text = self.status_text()
            return text if re.search(pattern, text) else None

        try:
            return wait_for(matching, timeout, f"the status bar to match {pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it shows {self.status_text()!r}") from None

    # -- commands, files, selections -------------------------------------------------------------

    def palette(self, command: str, then_enter: bool = True) -> None:
        """F1, type the command's title, Enter: the way a user runs any command (no Escape
        first: in the editor it would drop the selection the command is about)."""
        self.page.keyboard.press("F1")
        box = self.page.locator(".quick-input-widget input.input")
        box.wait_for(timeout=20000)
        box.fill(">" + command)
        row = self.page.locator(".quick-input-list .monaco-list-row").filter(has_text=command).first
        row.wait_for(timeout=20000)
        if then_enter:
            self.page.keyboard.press("Enter")

    def quick_input(self):
        return self.page.locator(".quick-input-widget input.input")

    def open_file(self, name: str) -> None:
        """A click on the file in the Explorer (a file a test has just written shows there as
        soon as VS Code's watcher sees it; Quick Open's file index may not have it yet)."""
        self.page.keyboard.press("Escape")
        row = self.page.locator(".explorer-folders-view .monaco-list-row").filter(
            has=self.page.get_by_text(name, exact=True)
        ).first
        row.wait_for(timeout=30000)
        row.click()
        self.page.locator(f'.tab[aria-label*="{name}"]').first.wait_for(timeout=20000)
        self.editor().click()

    def editor(self):
        return self.page.locator(".editor-group-container.active .monaco-editor .view-lines").first

    def go_to(self, line: int, column: int = 1) -> None:
        self.page.keyboard.press("Control+G")
        self.quick_input().wait_for(timeout=20000)
        self.quick_input().fill(f":{line}:{column}")
        self.page.keyboard.press("Enter")
        # keys typed before it has closed would go to it, not to the editor
        self.quick_input().wait_for(state="hidden", timeout=20000)

    def select_lines(self, first: int, last: int) -> None:
        """Lines ``first``..``last`` (1-based), whole, as Shift+ArrowDown selects them."""
        self.go_to(first, 1)
        for _ in range(last - first + 1):
            self.page.keyboard.press("Shift+ArrowDown")

    def set_setting(self, key: str, value: Any) -> None:
        """A setting changed in settings.json opened in VS Code ("Preferences: Open User
        Settings (JSON)"), edited and saved as a user does; the window is not reloaded."""
        self.palette("Preferences: Open User Settings (JSON)")
        # VS Code 1.139 opens it in a dialog over the window, not in a tab
        editor = self.page.locator(".monaco-editor[data-uri$='User/settings.json'] .view-lines").last
        editor.wait_for(timeout=30000)
        editor.click()
        settings = {**self.server.settings, key: value}
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(json.dumps(settings, indent=2))  # no auto-closed quotes
        self.page.keyboard.press("Control+S")
        self.server.settings = settings
        wait_for(lambda: f'"{key}": {json.dumps(value)}' in self.server.settings_path.read_text(), 30, f"{key} saved")
        self.page.keyboard.press("Control+W")
        editor.wait_for(state="hidden", timeout=20000)

    def close_all_editors(self) -> None:
        self.page.keyboard.press("Escape")
        self.palette("View: Close All Editors")

    # -- webview panels --------------------------------------------------------------------------

    def webview(self, title: str):
        """The content frame of the webview whose tab is ``title`` (VS Code nests two iframes)."""
        return self.page.frame_locator("iframe.webview.ready").frame_locator("#active-frame")

    def tabs(self, title: str):
        return self.page.locator(".tab").filter(has_text=title)

    def ask(self, question: str) -> str:
        """Ask AI on greeter.py's method; the panel's answer and note once it is done."""
        self.open_file("greeter.py")
        self.select_lines(2, 4)
        self.palette("oss-sidecar: Ask AI")
        self.quick_input().fill(question)
        self.page.keyboard.press("Enter")
        frame = self.webview("Ask AI")
        frame.locator("#question").filter(has_text=question).wait_for(timeout=60000)
        stop = frame.locator("#stop")
        wait_for(lambda: not stop.is_visible(), 240, "the answer to finish")
        return frame.locator("#answer").inner_text() + "\n" + frame.locator("#status").inner_text()


@contextmanager
def open_workbench(chromium: Any, base: Path, settings: dict) -> Iterator[Workbench]:
    """VS Code on a project folder holding greeter.py: the .vsix installed into a fresh profile
    under `base`, code-server started with `settings`, the workbench open in a Chromium tab."""
    folder = base / "project"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "greeter.py").write_text(GREETER)
    server = CodeServer(base, folder, settings)
    server.install_extension(vsix())
    server.start()
    bench = Workbench(chromium.new_page(viewport={"width": 1400, "height": 860}), server)
    try:
        bench.open()
        yield bench
    finally:
        bench.page.close()
        server.stop()

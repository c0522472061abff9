"""The openai npm package in headless Chromium, on a page served from another local port: the
cross-origin call a web UI on localhost makes (preflight with the SDK's x-stainless-* headers,
then the POST), allowed by the default origin list (Ollama's).

Needs Debian's `chromium`, the `playwright` Python package and `npm ci --prefix tests/node-browser`.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
PACKAGE = Path(__file__).resolve().parent.parent / "node-browser"
MODEL = "SmolLM2-135M-Instruct.Q4_1"

try:
    from playwright.sync_api import sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"needs the playwright package: {exc}", allow_module_level=True)
if not os.path.exists(CHROMIUM):
    pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
if not (PACKAGE / "node_modules" / "openai").is_dir():
    pytest.skip("needs the openai npm package: npm ci --prefix tests/node-browser", allow_module_level=True)

PAGE = """<!doctype html><meta charset="utf-8"><title>sdk</title>
<script type="module">
import OpenAI from "/node_modules/openai/index.mjs";
window.run = async (baseURL) => {
  const client = new OpenAI({ baseURL, apiKey: "unused", dangerouslyAllowBrowser: true, maxRetries: 0 });
  const chat = await client.chat.completions.create({
    model: "%s", messages: [{ role: "user", content: "Say hi." }], max_tokens: 4,
  });
  const stream = await client.chat.completions.create({
    model: "%s", messages: [{ role: "user", content: "Say hi." }], max_tokens: 4, stream: true,
  });
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
  return { text: chat.choices[0].message.content, streamed };
};
window.ready = true;
</script>""" % (MODEL, MODEL)


class _Files(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript"}

    def do_GET(self):
        if self.path == "/":
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_origin():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(PACKAGE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_openai_sdk_in_a_local_page_calls_the_gateway(gateway, page_origin):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            page = browser.new_page()
            page.goto(page_origin + "/")
            page.wait_for_function("window.ready === true")
            answer = page.evaluate("url => window.run(url)", gateway.base_url)
        finally:
            browser.close()
    assert answer["text"] and answer["streamed"]

"""The chat panel in VS Code: "Open chat panel" shows the gateway's own chat page beside the
editor, where a conversation streams its answers rendered from Markdown; "Open chat in browser"
opens that page in a browser tab (code-server may hand out its own proxy address for the
gateway's port: asExternalUri does that for a remote window). The page works in both: the
gateway lets the origins of server.cors_origins frame it, and its URLs are relative."""

from __future__ import annotations

import http.client
import json
import re
import sys
from urllib.parse import urlparse

import pytest

from vscode_host import missing, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)


@pytest.fixture(autouse=True)
def close_chat_panel(vscode):
    """The shared window is left without the chat panel: the other tests find their own webview
    (the Ask AI panel) as the only one."""
    yield
    # Keys typed in the gateway's page (a cross-origin frame in the webview) never reach the
    # workbench; a user clicks outside it first, here on the panel's tab.
    tab = vscode.tabs("oss-sidecar chat")
    if tab.count():
        tab.first.click()
    vscode.page.keyboard.press("Escape")
    vscode.close_all_editors()
    vscode.tabs("oss-sidecar chat").first.wait_for(state="detached", timeout=20000)


def chat_page(bench):
    """The gateway's page inside the chat webview (webview frame > the page's iframe)."""
    return bench.webview("oss-sidecar chat").frame_locator("iframe[title='oss-sidecar chat']")


def send(page, text: str, nth: int) -> str:
    page.locator("#input").fill(text)
    page.locator("#send").click()
    answer = page.locator(".msg.assistant .content.answer").nth(nth)
    answer.wait_for(timeout=60000)
    # done streaming: the page's Stop is disabled again and the answer has text
    wait_for(lambda: page.locator("#stop").is_disabled() and answer.inner_text().strip(), 240, "the answer")
    return answer.inner_html()


def test_a_conversation_in_the_chat_panel(vscode, gateway):
    vscode.close_all_editors()
    vscode.page.keyboard.press("Escape")
    vscode.palette("oss-sidecar: Open chat panel")
    vscode.tabs("oss-sidecar chat").first.wait_for(timeout=30000)
    page = chat_page(vscode)
    page.locator("#input").wait_for(timeout=30000)
    first = send(page, "Write a Python function that adds two numbers, in a code block.", 0)
    # Markdown rendered to HTML, never shown as raw fences
    assert "```" not in re.sub(r"<[^>]+>", "", first), first
    assert re.search(r"<(p|pre|code|ol|ul|h\d)\b", first), first
    second = send(page, "Now explain it in one sentence.", 1)
    assert second.strip()
    assert page.locator(".msg.user").count() == 2  # one conversation, both turns
    vscode.screenshot("15-chat-panel")


def test_open_chat_in_browser_opens_the_gateways_page(vscode, gateway):
    vscode.page.keyboard.press("Escape")
    with vscode.page.context.expect_page(timeout=60000) as opened:
        vscode.palette("oss-sidecar: Open chat in browser")
        # VS Code may ask before opening an external link; a user clicks Open
        dialog = vscode.page.locator(".monaco-dialog-box .monaco-button").filter(has_text=re.compile("^Open$"))
        try:
            dialog.first.click(timeout=5000)
        except Exception:
            pass
    tab = opened.value
    try:
        tab.wait_for_load_state("domcontentloaded", timeout=60000)
        port = urlparse(gateway.url).port
        assert tab.url.startswith(gateway.url) or f"/proxy/{port}/" in tab.url, tab.url
        tab.locator("#input").wait_for(timeout=60000)  # the gateway's chat page, working
        tab.screenshot(path=str(vscode.screenshot("16-before-browser").with_name("16-chat-in-browser.png")))
    finally:
        tab.close()


def test_the_chat_page_opened_in_the_browser_works(vscode, gateway):
    vscode.page.keyboard.press("Escape")
    with vscode.page.context.expect_page(timeout=60000) as opened:
        vscode.palette("oss-sidecar: Open chat in browser")
    tab = opened.value
    try:
        tab.wait_for_load_state("load", timeout=60000)
        # its script ran: the status line leaves "connecting…" once /v1/stats answers
        tab.locator("[data-stat=status]").filter(has_text="ready").wait_for(timeout=20000)
        # and the page's requests reach the gateway through the same prefix
        assert send(tab, "Say hello.", 0).strip()
    finally:
        tab.close()


def test_answers_stream_through_code_servers_proxy_uncompressed(vscode, gateway):
    """code-server compresses what its /proxy/PORT/ passes on, which holds a stream back until it
    ends; the gateway's streams say no-transform, so each chunk goes on as it comes."""
    port = urlparse(gateway.url).port
    connection = http.client.HTTPConnection("127.0.0.1", vscode.server.port, timeout=120)
    try:
        connection.request(
            "POST", f"/proxy/{port}/v1/chat/completions",
            json.dumps({"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "stream": True}),
            {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate, br",
             "Origin": f"http://127.0.0.1:{vscode.server.port}"},
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Encoding") is None
        assert "no-transform" in response.getheader("Cache-Control", "")
        assert response.read().rstrip().endswith(b"data: [DONE]")
    finally:
        connection.close()

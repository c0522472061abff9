"""The browser chat page (GET /) in headless Chromium against the real gateway and its embedded model.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package (its bundled driver
is enough; no browser download). Without them every test here is skipped with the reason printed.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

try:
    import pytest_asyncio
    from playwright.async_api import async_playwright, expect
except ImportError as exc:  # pragma: no cover - depends on the machine
    _SKIP = f"chat page tests need the playwright package (pip install playwright): {exc}"
else:
    _SKIP = None if os.path.exists(CHROMIUM) else f"chat page tests need Chromium at {CHROMIUM} (apt-get install chromium)"

if _SKIP:
    print(f"SKIP tests/e2e/test_chat_page.py: {_SKIP}", file=sys.stderr)
    pytest.skip(_SKIP, allow_module_level=True)

COMPLETIONS = "**/v1/chat/completions"
LONG_PROMPT = "Write a very long story about a lighthouse keeper and the sea. Use many chapters."


# ---------------------------------------------------------------- fixtures and helpers


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


class Chat:
    """One browser tab on the chat page, found by roles and accessible names."""

    def __init__(self, page, gateway):
        self.page = page
        self.gateway = gateway
        self.errors: list[str] = []
        self.requests: list[dict] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self._on_request)

    def _on_request(self, request):
        if request.method == "POST" and request.url.endswith("/v1/chat/completions"):
            self.requests.append(json.loads(request.post_data or "{}"))

    @property
    def message_box(self):
        return self.page.get_by_role("textbox", name="Message", exact=True)

    def button(self, name):
        return self.page.get_by_role("button", name=name, exact=True)

    def answers(self):
        return self.page.locator("article.msg.assistant")

    def last_answer_text(self):
        return self.page.locator("article.msg.assistant .answer").last

    async def open(self):
        await self.page.goto(self.gateway.url + "/")
        await self.page.wait_for_function("window.__chatReady === true")

    async def set_param(self, label, value):
        await self.page.get_by_label(label, exact=True).fill(str(value))

    async def send(self, text, *, enter=False):
        await self.message_box.fill(text)
        if enter:
            await self.message_box.press("Enter")
        else:
            await self.button("Send").click()

    async def wait_idle(self, timeout=90_000):
        await expect(self.button("Send")).to_be_enabled(timeout=timeout)
        await expect(self.button("Stop")).to_be_disabled(timeout=timeout)

    async def stat(self, name):
        return (await self.page.locator(f'[data-stat="{name}"]').inner_text()).strip()


@pytest_asyncio.fixture(loop_scope="session")
async def chat(browser, gateway):
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = await context.new_page()
    c = Chat(page, gateway)
    await c.open()
    try:
        yield c
    finally:
        await context.close()
    assert not c.errors, f"JavaScript errors on the page: {c.errors}"


async def wait_until(predicate, timeout=15.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


def predicted_tokens(stats: dict) -> int | None:
    counters = stats.get("engine_counters") or {}
    value = counters.get("tokens_predicted_total")
    return int(value) if isinstance(value, (int, float)) else None


def sse(*chunks: dict) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def delta(**d) -> dict:
    return {"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": "double",
            "choices": [{"index": 0, "delta": d, "finish_reason": None}]}


async def keep_generating(route):
    """Let the real gateway answer, but ask it to ignore end-of-sequence so the answer is long
    enough to be stopped half way (the tiny model sometimes ends a story after a sentence)."""
    body = json.loads(route.request.post_data or "{}")
    body["ignore_eos"] = True
    await route.continue_(post_data=json.dumps(body))


# ---------------------------------------------------------------- tests


async def test_answer_streams_token_by_token(chat):
    await chat.set_param("Max new tokens", 48)
    # Record every distinct text the answer shows while it streams.
    await chat.page.evaluate(
        """() => {
            window.__states = [];
            new MutationObserver(() => {
                const a = document.querySelector('article.msg.assistant:last-of-type .answer');
                const t = a ? a.textContent : '';
                if (t && window.__states[window.__states.length - 1] !== t) window.__states.push(t);
            }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
        }"""
    )
    await chat.send("Count from one to twenty in words.", enter=True)  # Enter sends
    await expect(chat.button("Stop")).to_be_enabled()
    await chat.wait_idle()
    states = await chat.page.evaluate("window.__states")
    final = (await chat.last_answer_text().inner_text()).strip()
    assert final, "the model's answer is empty"
    assert len(states) >= 3, f"the answer did not stream progressively: {states}"
    # every intermediate state is a prefix-ish growth of the text, not one final paint
    assert len(states[0]) < len(states[-1])
    meta = await chat.answers().last.locator(".meta").inner_text()
    assert re.search(r"\d+ in / \d+ out tokens", meta), meta

    body = chat.requests[-1]
    assert body["stream"] is True
    assert body["truncate_prompt_tokens"] == -1
    assert body["messages"][-1] == {"role": "user", "content": "Count from one to twenty in words."}

    # multi-turn: the second request carries the first exchange
    await chat.send("Now from twenty down to one.")
    await chat.wait_idle()
    roles = [m["role"] for m in chat.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"], roles
    assert chat.requests[-1]["messages"][2]["content"].strip(), "the first answer is missing from the history"
    assert await chat.answers().count() == 2


async def test_shift_enter_adds_a_line_and_does_not_send(chat):
    await chat.message_box.fill("first line")
    await chat.message_box.press("Shift+Enter")
    await chat.message_box.press_sequentially("second line")
    assert await chat.message_box.input_value() == "first line\nsecond line"
    assert chat.requests == []
    assert await chat.page.locator("article.msg").count() == 0


async def _start_long_answer(chat, gateway):
    await chat.page.route(COMPLETIONS, keep_generating)
    await chat.send(LONG_PROMPT)
    await expect(chat.last_answer_text()).to_have_text(re.compile(r"\S{3}"), timeout=60_000)
    running = await wait_until(lambda: gateway.stats()["requests"]["running"] >= 1, timeout=10)
    assert running, "the gateway does not count the streaming request as running"
    await chat.page.unroute(COMPLETIONS)


def engine_counter(stats: dict, name: str) -> float | None:
    value = (stats.get("engine_counters") or {}).get(name)
    return float(value) if isinstance(value, (int, float)) else None


async def _assert_engine_stopped(gateway, before: dict):
    """The gateway no longer runs the request, the engine's own counters show it gone (its slot is
    free, the abort is counted) and its token counter stops growing. Without the abort the engine
    would go on for up to 2048 tokens (ignore_eos), i.e. far longer than these waits."""
    idle = await wait_until(lambda: gateway.stats()["requests"]["running"] == 0, timeout=10)
    assert idle, f"the request still runs in the gateway after Stop: {gateway.stats()['requests']}"
    if engine_counter(before, "requests_processing") is not None:
        freed = await wait_until(lambda: engine_counter(gateway.stats(), "requests_processing") == 0, timeout=10)
        assert freed, f"the engine still processes the request after Stop: {gateway.stats()['engine_counters']}"
    aborted_before = engine_counter(before, "requests_aborted_total")
    if aborted_before is not None:
        counted = await wait_until(
            lambda: engine_counter(gateway.stats(), "requests_aborted_total") > aborted_before, timeout=10)
        assert counted, "the engine did not count an aborted request"
    tokens = predicted_tokens(gateway.stats())
    await asyncio.sleep(1.5)
    later = predicted_tokens(gateway.stats())
    assert later == tokens, f"the engine kept generating after Stop: {tokens} -> {later} tokens"


async def test_stop_button_aborts_generation_in_the_engine(chat, gateway):
    await _start_long_answer(chat, gateway)
    before = gateway.stats()
    partial_before = await chat.last_answer_text().inner_text()
    await chat.button("Stop").click()
    await chat.wait_idle(timeout=10_000)
    await _assert_engine_stopped(gateway, before)
    meta = await chat.answers().last.locator(".meta").inner_text()
    assert "stopped" in meta
    partial = (await chat.last_answer_text().inner_text()).strip()
    assert partial and len(partial) >= len(partial_before.strip()), "the partial answer was lost on Stop"
    # the page still works: the next message gets an answer
    await chat.set_param("Max new tokens", 8)
    await chat.send("Say hi.")
    await chat.wait_idle()
    assert await chat.answers().count() == 2


async def test_escape_stops_generation(chat, gateway):
    await _start_long_answer(chat, gateway)
    before = gateway.stats()
    await chat.message_box.press("Escape")
    await chat.wait_idle(timeout=10_000)
    await _assert_engine_stopped(gateway, before)
    assert "stopped" in await chat.answers().last.locator(".meta").inner_text()


async def test_clear_history_starts_over(chat):
    await chat.set_param("Max new tokens", 8)
    await chat.send("Hello!")
    await chat.wait_idle()
    assert await chat.page.locator("article.msg").count() == 2
    await expect(chat.page.locator("#chat-title")).to_have_text("Hello!")
    await expect(chat.page.locator("#conversation-list li .conv-open")).to_have_text(["Hello!"])
    await chat.button("Clear history").click()
    assert await chat.page.locator("article.msg").count() == 0
    # the title taken from the first question goes too, in the header and the list
    await expect(chat.page.locator("#chat-title")).to_have_text("New chat")
    await expect(chat.page.locator("#conversation-list li .conv-open")).to_have_text(["New chat"])
    await expect(chat.page.locator('[data-stat="conv-turns"]')).to_have_text("0")
    await chat.page.reload()
    await chat.page.wait_for_function("window.__chatReady === true")
    assert await chat.page.locator("article.msg").count() == 0
    await expect(chat.page.locator("#chat-title")).to_have_text("New chat")
    # the next request carries no trace of the cleared turns
    await chat.send("What is two plus two?")
    await chat.wait_idle()
    roles = [m["role"] for m in chat.requests[-1]["messages"]]
    assert roles == ["system", "user"], roles


async def test_parameters_default_and_changed_values_reach_the_request(chat, gateway):
    page = chat.page
    for label, value in [("Temperature", "0.7"), ("Top-p", "0.9"), ("Max new tokens", "2048"),
                         ("Repetition penalty", "1.1")]:
        await expect(page.get_by_label(label, exact=True)).to_have_value(value)

    # First message with the defaults, answered by a canned reply (2048 tokens would take a while).
    async def canned(route):
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                            body=sse(delta(role="assistant", content="ok")))
    await page.route(COMPLETIONS, canned)
    await chat.send("First")
    await chat.wait_idle()
    await page.unroute(COMPLETIONS)
    first = chat.requests[-1]
    assert (first["temperature"], first["top_p"], first["max_tokens"], first["repetition_penalty"]) == (0.7, 0.9, 2048, 1.1)
    assert first["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}

    # Change every parameter: the next message (to the real gateway) uses them.
    await chat.set_param("Temperature", 0.2)
    await chat.set_param("Top-p", 0.5)
    await chat.set_param("Max new tokens", 12)
    await chat.set_param("Repetition penalty", 1.3)
    await chat.set_param("System prompt", "You answer in one short sentence.")
    await chat.send("Describe the sea.")
    await chat.wait_idle()
    second = chat.requests[-1]
    assert (second["temperature"], second["top_p"], second["max_tokens"], second["repetition_penalty"]) == (0.2, 0.5, 12, 1.3)
    assert second["messages"][0] == {"role": "system", "content": "You answer in one short sentence."}
    # ...and the engine honoured max_tokens
    meta = await chat.answers().last.locator(".meta").inner_text()
    out = int(re.search(r"(\d+) out tokens", meta).group(1))
    assert 1 <= out <= 12, meta
    # settings survive a reload
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await expect(page.get_by_label("Max new tokens", exact=True)).to_have_value("12")


def another_client_asks(gateway, max_tokens: int) -> dict:
    """A request from another client (an editor, a benchmark): the server's numbers, not this page's."""
    body = json.dumps({"messages": [{"role": "user", "content": "Count to three."}], "max_tokens": max_tokens}).encode()
    request = urllib.request.Request(gateway.url + "/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


async def test_status_bar_counts_this_conversation_beside_the_servers_state(chat, gateway):
    page = chat.page
    await asyncio.to_thread(another_client_asks, gateway, 3)
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    # Server: its state, engine, model and memory, labelled as the server's.
    server = page.get_by_role("group", name="Server")
    await expect(server.locator('[data-stat="status"]')).to_have_text("ready", timeout=10_000)
    stats = gateway.stats()
    assert await chat.stat("engine") == stats["engine"]
    assert await chat.stat("model") == stats["model"]
    assert re.fullmatch(r"[\d.]+ \w?i?B / [\d.]+ \w?i?B", await chat.stat("memory")), await chat.stat("memory")
    assert await chat.stat("running") == "0"
    # This conversation: nothing yet, whatever the other client did.
    mine = page.get_by_role("group", name="This conversation")
    await expect(mine).to_contain_text("0 in / 0 out")
    assert await chat.stat("conv-ttft") == "–"

    await chat.set_param("Max new tokens", 16)
    await chat.send("Name three colours.")
    await chat.wait_idle()
    meta = await chat.answers().last.locator(".meta").inner_text()
    tokens_in, tokens_out = map(int, re.search(r"(\d+) in / (\d+) out tokens", meta).groups())
    await expect(page.locator('[data-stat="conv-in"]')).to_have_text(f"{tokens_in:,}")
    await expect(page.locator('[data-stat="conv-out"]')).to_have_text(f"{tokens_out:,}")
    assert re.fullmatch(r"[\d,]+ ms", await chat.stat("conv-ttft"))
    assert await chat.stat("conv-avg-ttft") == await chat.stat("conv-ttft")
    assert await chat.stat("conv-turns") == "1"
    assert re.fullmatch(r"[\d,.]+ tok/s", await chat.stat("conv-tps"))

    # A stopped answer (no usage chunk) counts too: the prompt as the gateway counted it, the
    # tokens streamed until Stop (marked ≈).
    await page.route(COMPLETIONS, keep_generating)
    await chat.set_param("Max new tokens", 400)
    await chat.send(LONG_PROMPT)
    await expect(chat.last_answer_text()).to_contain_text(re.compile(r"\w+\W+\w+\W+\w+"), timeout=60_000)
    await chat.button("Stop").click()
    await chat.wait_idle(timeout=10_000)
    await page.unroute(COMPLETIONS)
    stopped = await chat.answers().last.locator(".meta").inner_text()
    assert "stopped" in stopped
    stopped_in, stopped_out = map(int, re.search(r"(\d+) in / ≈(\d+) out tokens", stopped).groups())
    assert stopped_in > tokens_in and stopped_out >= 3, stopped
    await expect(page.locator('[data-stat="conv-turns"]')).to_have_text("2")
    assert int((await chat.stat("conv-in")).replace(",", "")) == tokens_in + stopped_in
    assert int((await chat.stat("conv-out")).replace(",", "")) == tokens_out + stopped_out
    assert "estimated" in await page.locator('[data-stat="conv-out"]').get_attribute("class")

    # Another conversation has its own numbers; switching back shows these again.
    await chat.button("New chat").click()
    await expect(mine).to_contain_text("0 in / 0 out")
    await page.locator("#conversation-list .conv-open").nth(1).click()
    await expect(page.locator('[data-stat="conv-turns"]')).to_have_text("2")


async def test_xss_payload_in_a_model_answer_stays_inert(chat):
    page = chat.page

    async def malicious_model(route):
        """Test double for a malicious (or prompt-injected) model: the real model cannot be made to
        emit these payloads reliably, so this one answer comes from here instead of the gateway."""
        body = sse(
            delta(role="assistant", reasoning_content="Thinking about <img src=x onerror=\"window.__pwned=1\">..."),
            delta(content="Here you go: <img src=x onerror=\"window.__pwned=1\">\n\n"),
            delta(content="<script>window.__pwned=1</script>\n\n"),
            delta(content="[click me](javascript:window.__pwned=1)\n\n"),
            delta(content="<a href=\"javascript:window.__pwned=1\">raw link</a> "
                          "<iframe src=\"javascript:window.__pwned=1\"></iframe>\n\n"),
            delta(content="![pic](x\" onerror=\"window.__pwned=1)\n\n"),
            delta(content="<svg onload=\"window.__pwned=1\"></svg> <b onmouseover=\"window.__pwned=1\">bold</b>\n\n"),
            delta(content="```html\n<script>window.__pwned=1</script>\n```\n"),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}},
        )
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "X-History-Trimmed": "2"},
                            body=body)

    await page.route(COMPLETIONS, malicious_model)
    await chat.send("Show me something dangerous")
    await chat.wait_idle()
    answer = chat.answers().last
    await expect(answer.locator(".answer")).to_contain_text("Here you go")

    link = answer.get_by_text("click me")
    await link.click()
    await answer.get_by_text("raw link").click()
    await answer.get_by_text("bold").hover()
    await asyncio.sleep(0.5)
    assert await page.evaluate("window.__pwned") is None
    # nothing executable made it into the DOM
    assert await answer.locator("script, img, iframe, svg, [onerror], [onload], [onmouseover]").count() == 0
    hrefs = await answer.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if "javascript" in h.lower()], hrefs
    # raw HTML is shown as text, and code blocks stay code
    await expect(answer.locator(".answer")).to_contain_text('<img src=x onerror="window.__pwned=1">')
    await expect(answer.locator(".code-block code")).to_contain_text("<script>window.__pwned=1</script>")
    # reasoning folds away in a closed <details>
    details = answer.locator("details.reasoning")
    await expect(details).to_be_visible()
    assert await details.get_attribute("open") is None
    # the server said it dropped older turns: the page says so
    await expect(answer.locator(".trimmed-notice")).to_contain_text("2 older messages")
    # still inert after a reload re-renders the stored answer
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await chat.answers().last.get_by_text("click me").click()
    await asyncio.sleep(0.3)
    assert await page.evaluate("window.__pwned") is None


async def test_code_block_is_highlighted_with_a_copy_button(chat):
    page = chat.page

    async def code_answer(route):
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=sse(
            delta(role="assistant", content="Use `len`:\n\n```python\ndef size(xs):\n    return len(xs)\n```\n\n"),
            delta(content="| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n"),
        ))

    await page.route(COMPLETIONS, code_answer)
    await chat.send("code please")
    await chat.wait_idle()
    answer = chat.answers().last
    await expect(answer.locator("code.language-python .hljs-keyword").first).to_have_text("def")
    await expect(answer.locator("table td").first).to_have_text("1")
    await expect(answer.locator("ul li")).to_have_count(2)
    await expect(answer.locator(":not(pre) > code")).to_have_text("len")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await answer.get_by_role("button", name="Copy code").click()
    assert await page.evaluate("navigator.clipboard.readText()") == "def size(xs):\n    return len(xs)"


@pytest.mark.parametrize(
    "status,headers,body,expected",
    [
        (429, {"Retry-After": "3"}, {"error": {"message": "The queue is full", "type": "overloaded",
                                               "param": None, "code": "queue_full"}}, "busy"),
        (503, {}, {"error": {"message": "model is loading", "type": "unavailable", "param": None, "code": None}},
         "not ready"),
        (None, {}, None, "Cannot reach the gateway"),
    ],
    ids=["429", "503", "network-loss"],
)
async def test_errors_are_readable_and_retry_works(chat, status, headers, body, expected):
    page = chat.page

    async def failing(route):
        if status is None:
            await route.abort("internetdisconnected")
        else:
            await route.fulfill(status=status, headers={"Content-Type": "application/json", **headers},
                                body=json.dumps(body))

    await chat.set_param("Max new tokens", 8)
    await page.route(COMPLETIONS, failing)
    await chat.send("Hello?")
    alert = chat.answers().last.get_by_role("alert")
    await expect(alert).to_contain_text(expected, timeout=10_000)
    if status == 429:
        await expect(alert).to_contain_text("3 s")
    await chat.wait_idle(timeout=5_000)  # never a frozen page
    await page.unroute(COMPLETIONS)
    await alert.get_by_role("button", name="Retry").click()
    await chat.wait_idle()
    await expect(chat.answers()).to_have_count(1)
    await expect(chat.answers().last.get_by_role("alert")).to_be_hidden()
    assert (await chat.last_answer_text().inner_text()).strip()


async def test_a_real_overload_429_is_shown_and_retry_succeeds(browser, start_gateway):
    """A gateway that runs one request and queues none answers a second tab with 429."""
    busy = start_gateway("--max-concurrency", "1", "--max-queue", "0")
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    first, second = Chat(await context.new_page(), busy), Chat(await context.new_page(), busy)
    try:
        await first.open()
        await second.open()
        await _start_long_answer(first, busy)
        await second.set_param("Max new tokens", 8)
        await second.send("Hello?")
        alert = second.answers().last.get_by_role("alert")
        await expect(alert).to_contain_text("busy", timeout=30_000)
        await second.wait_idle(timeout=5_000)
        await first.button("Stop").click()
        await first.wait_idle(timeout=10_000)
        await wait_until(lambda: busy.stats()["requests"]["running"] == 0, timeout=10)
        await alert.get_by_role("button", name="Retry").click()
        await second.wait_idle()
        await expect(second.answers().last.get_by_role("alert")).to_be_hidden()
        assert (await second.last_answer_text().inner_text()).strip()
    finally:
        await context.close()
    assert not first.errors and not second.errors, first.errors + second.errors


async def test_gateway_lost_mid_answer_is_reported_and_the_page_stays_usable(browser, start_gateway):
    """The gateway process dies while an answer streams (a real connection loss, not a double)."""
    doomed = start_gateway()
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    chat = Chat(await context.new_page(), doomed)
    try:
        await chat.open()
        await _start_long_answer(chat, doomed)
        doomed.process.kill()
        alert = chat.answers().last.get_by_role("alert")
        await expect(alert).to_contain_text("connection", timeout=15_000)
        await chat.wait_idle(timeout=5_000)
        assert (await chat.last_answer_text().inner_text()).strip(), "the partial answer was lost"
        await expect(chat.page.locator('[data-stat="status"]')).to_have_text("unreachable", timeout=10_000)
        await alert.get_by_role("button", name="Retry").click()
        await expect(chat.answers().last.get_by_role("alert")).to_contain_text("Cannot reach the gateway",
                                                                               timeout=15_000)
        await chat.wait_idle(timeout=5_000)
        await expect(chat.message_box).to_be_editable()
    finally:
        await context.close()
    assert not chat.errors, chat.errors


async def test_a_rejected_request_shows_the_gateways_message_and_retry_uses_fixed_parameters(chat):
    """A real 400 from the gateway: a top-p of 0, which the page's field allows and the API refuses
    (an output limit past the window is no longer one: the gateway clamps it)."""
    await chat.set_param("Max new tokens", 8)
    await chat.set_param("Top-p", 0)
    await chat.send("Hello?")
    alert = chat.answers().last.get_by_role("alert")
    await expect(alert).to_contain_text("rejected the request", timeout=30_000)
    await expect(alert).to_contain_text("top_p")
    await chat.wait_idle(timeout=5_000)
    await chat.set_param("Top-p", 0.9)
    await alert.get_by_role("button", name="Retry").click()
    await chat.wait_idle()
    assert chat.requests[-1]["top_p"] == 0.9
    await expect(chat.answers()).to_have_count(1)
    await expect(chat.answers().last.get_by_role("alert")).to_be_hidden()
    assert (await chat.last_answer_text().inner_text()).strip()


async def test_reload_keeps_conversations_rename_switch_delete_export(chat, tmp_path: Path):
    page = chat.page
    await chat.set_param("Max new tokens", 16)
    await chat.send("Tell me a fun fact about cats.")
    await chat.wait_idle()
    answer = (await chat.last_answer_text().inner_text()).strip()
    assert answer

    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await expect(page.locator("article.msg.user .body")).to_have_text("Tell me a fun fact about cats.")
    assert (await chat.last_answer_text().inner_text()).strip() == answer

    # rename in the list; the name survives a reload
    await page.get_by_role("button", name="Rename Tell me a fun fact about cats.").click()
    name_box = page.get_by_role("textbox", name="Conversation name")
    await name_box.fill("Cats")
    await name_box.press("Enter")
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await expect(page.get_by_role("button", name="Cats", exact=True)).to_be_visible()

    # export as JSON and Markdown
    async with page.expect_download() as dl:
        await chat.button("Export JSON").click()
    data = json.loads(Path(await (await dl.value).path()).read_text())
    assert data["title"] == "Cats"
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][0]["content"] == "Tell me a fun fact about cats."
    async with page.expect_download() as dl:
        await chat.button("Export Markdown").click()
    md = Path(await (await dl.value).path()).read_text()
    assert md.startswith("# Cats")
    assert "Tell me a fun fact about cats." in md and data["messages"][1]["content"] in md

    # a second conversation; switch between them; delete one
    await chat.button("New chat").click()
    await expect(page.locator("article.msg")).to_have_count(0)
    await chat.send("Hi")
    await chat.wait_idle()
    await expect(page.locator("#conversation-list li")).to_have_count(2)
    await page.get_by_role("button", name="Cats", exact=True).click()
    await expect(page.locator("article.msg.user .body")).to_have_text("Tell me a fun fact about cats.")
    await page.get_by_role("button", name="Delete Hi", exact=True).click()
    await expect(page.locator("#conversation-list li")).to_have_count(1)
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await expect(page.locator("#conversation-list li")).to_have_count(1)
    await expect(page.locator("article.msg.user .body")).to_have_text("Tell me a fun fact about cats.")


async def test_page_says_which_history_window_was_used_and_why(browser, start_gateway):
    """A gateway with a small window (300 tokens) and a small context (512) drops the oldest turns;
    the page says how many, the window really used and why: the setting, or the context less the
    answer's budget once max new tokens leaves less than the setting. The parameters panel shows
    the same window before anything is sent."""
    small = start_gateway(env={"OSS_SIDECAR_MODEL__HISTORY_WINDOW_TOKENS": "300",
                               "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "512"})
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    chat = Chat(await context.new_page(), small)
    try:
        await chat.open()
        await chat.set_param("Max new tokens", 8)
        window = chat.page.locator("#effective-window")
        await expect(window).to_have_text("History window: 300 tokens (the server's history_window_tokens setting)")
        words = " ".join(["apple", "river", "stone", "cloud"] * 35)  # about 150 tokens
        await chat.send("Please remember these words: " + words)
        await chat.wait_idle()
        await expect(chat.answers().last.locator(".trimmed-notice")).to_be_hidden()
        await chat.send("And these ones too: " + words)
        await chat.wait_idle()
        notice = chat.answers().last.locator(".trimmed-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text(re.compile(r"\d+ older messages? (was|were) left out"))
        await expect(notice).to_contain_text("history window of 300 tokens: the server's history_window_tokens setting")
        assert chat.requests[-1]["truncate_prompt_tokens"] == -1
        # More new tokens: the context less the answer's budget is now the smaller window.
        await chat.set_param("Max new tokens", 230)
        await expect(window).to_have_text("History window: 282 tokens (the model's context of 512 less 230 kept for the answer)")
        await chat.send("And once more: " + words)
        await chat.wait_idle(timeout=120_000)
        notice = chat.answers().last.locator(".trimmed-notice")
        await expect(notice).to_contain_text("history window of 282 tokens: the model's context of 512 less 230 kept for the answer")
        # the notice stays with that answer after a reload
        await chat.page.reload()
        await chat.page.wait_for_function("window.__chatReady === true")
        await expect(chat.answers().last.locator(".trimmed-notice")).to_contain_text("282 tokens")
    finally:
        await context.close()
    assert not chat.errors, chat.errors


VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the layout tests keep their screenshots (CHAT_PAGE_ARTIFACTS, or pytest's own
    temporary folder): artifacts to look at, outside the checkout."""
    folder = Path(os.environ.get("CHAT_PAGE_ARTIFACTS") or tmp_path_factory.getbasetemp() / "chat-page-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"chat page screenshots in {folder}", file=sys.stderr)
    return folder


async def inside_viewport(page, locator) -> None:
    box = await locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (await locator.inner_text(), box)


async def no_horizontal_scroll(page) -> None:
    scroll, client = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"the page is {scroll} px wide in a {client} px viewport"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_layout_on_a_phone_and_a_desktop_in_light_and_dark(browser, gateway, screenshots, size, scheme):
    context = await browser.new_context(viewport=VIEWPORTS[size], color_scheme=scheme)
    chat = Chat(await context.new_page(), gateway)
    page = chat.page
    try:
        await chat.open()
        phone = size == "phone"
        params = page.get_by_role("complementary", name="Parameters")
        # Every header control is on screen, nothing scrolls sideways.
        for control in [chat.button("Parameters"), chat.button("Clear history"), page.get_by_label("Knowledge base", exact=True)]:
            await expect(control).to_be_visible()
            await inside_viewport(page, control)
        await no_horizontal_scroll(page)
        # Phones: parameters and conversations closed at first; desktops: both beside the chat.
        if phone:
            await expect(params).to_be_hidden()
            await expect(chat.button("Parameters")).to_have_attribute("aria-expanded", "false")
            await expect(page.get_by_role("complementary", name="Conversations")).to_be_hidden()
        else:
            await expect(params).to_be_visible()
            await expect(chat.button("Chats")).to_be_hidden()
            # A narrower desktop (three columns, a narrow chat): the header wraps, nothing is cut.
            await page.set_viewport_size({"width": 1180, "height": 800})
            head = await page.locator(".chat-head").bounding_box()
            for control in [chat.button("Parameters"), chat.button("Clear history"), page.locator("#chat-title")]:
                box = await control.bounding_box()
                assert box["width"] > 0 and head["x"] <= box["x"] and box["x"] + box["width"] <= head["x"] + head["width"] + 0.5, (box, head)
            await page.set_viewport_size(VIEWPORTS[size])
        # Stop beside the message box, on screen.
        box, stop = await chat.message_box.bounding_box(), await chat.button("Stop").bounding_box()
        assert stop["x"] >= box["x"] + box["width"] and box["y"] <= stop["y"] < box["y"] + box["height"], (box, stop)
        await inside_viewport(page, chat.button("Stop"))
        if phone:  # the parameters are an overlay there: open, set, close
            await chat.button("Parameters").click()
            await chat.set_param("Max new tokens", 12)
            await chat.button("Close parameters").click()
        else:
            await chat.set_param("Max new tokens", 12)
        await chat.send(f"Say hello in {size} {scheme} mode, in one short sentence.")
        await chat.wait_idle()
        # The messages get most of the screen; the status bar names this conversation and the server.
        messages = await page.get_by_role("log", name="Messages").bounding_box()
        assert messages["height"] >= 0.5 * VIEWPORTS[size]["height"], messages
        await expect(page.get_by_role("group", name="This conversation")).to_be_visible()
        await expect(page.get_by_role("group", name="Server")).to_contain_text("ready")
        await no_horizontal_scroll(page)
        await page.screenshot(path=screenshots / f"{size}-{scheme}.png")
        if phone:
            # The parameters open over the chat, fully on screen, and close again.
            await chat.button("Parameters").click()
            await expect(params).to_be_visible()
            await inside_viewport(page, params)
            await expect(page.get_by_text(re.compile(r"^History window: [\d,]+ tokens"))).to_be_visible()
            await no_horizontal_scroll(page)
            await page.screenshot(path=screenshots / f"{size}-{scheme}-parameters.png")
            await chat.button("Close parameters").click()
            await expect(params).to_be_hidden()
            # The conversation list too; picking a conversation closes it.
            await chat.button("Chats").click()
            conversations = page.get_by_role("complementary", name="Conversations")
            await expect(conversations).to_be_visible()
            await inside_viewport(page, conversations)
            await page.screenshot(path=screenshots / f"{size}-{scheme}-conversations.png")
            await conversations.locator(".conv-open").first.click()
            await expect(conversations).to_be_hidden()
            await expect(chat.answers()).to_have_count(1)
        else:
            await expect(page.locator("#effective-window")).to_contain_text("History window: 8,180 tokens")
        # This conversation's numbers, then Clear: the turns, the numbers and the title go.
        await expect(page.locator('[data-stat="conv-turns"]')).to_have_text("1")
        await chat.button("Clear history").click()
        await expect(page.locator("#chat-title")).to_have_text("New chat")
        await expect(page.locator('[data-stat="conv-turns"]')).to_have_text("0")
        await expect(page.get_by_role("group", name="This conversation")).to_contain_text("0 in / 0 out")
    finally:
        await context.close()
    assert not chat.errors, chat.errors


PAGE_WEIGHT_BUDGET = 200_000  # bytes on first load, uncompressed; docs/CHAT_PAGE.md states the figure


async def test_page_fetches_nothing_from_outside_the_gateway_and_stays_small(browser, gateway):
    context = await browser.new_context()
    page = await context.new_page()
    urls: list[str] = []
    responses = []
    page.on("request", lambda r: urls.append(r.url))
    page.on("response", lambda r: responses.append(r))
    try:
        await page.goto(gateway.url + "/")
        await page.wait_for_function("window.__chatReady === true")
        await page.wait_for_load_state("networkidle")
        weight = 0
        for r in responses:
            if r.url.startswith(gateway.url + "/") and "/v1/" not in r.url:
                weight += len(await r.body())
    finally:
        await context.close()
    outside = [u for u in urls if not (u.startswith(gateway.url + "/") or u.startswith("data:"))]
    assert not outside, outside
    assert any(u.endswith("/static/app.js") for u in urls)
    print(f"chat page weight on first load: {weight} bytes")
    assert 0 < weight <= PAGE_WEIGHT_BUDGET, weight

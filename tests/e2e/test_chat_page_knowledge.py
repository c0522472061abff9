"""The chat page with a knowledge base, and GET /v1/knowledge/collections behind its selector.

Real documents (this repository's own docs) are indexed by the real `oss-sidecar index` into
Chroma; a real gateway with its embedding model retrieves; the page runs in headless Chromium
as in test_chat_page.py (whose browser fixture and page helper it shares, and whose skip it
follows when Chromium or playwright is missing).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import pytest_asyncio

pytest.importorskip("chromadb")
httpx = pytest.importorskip("httpx")

from playwright.async_api import expect  # noqa: E402  (after the skips above)

from tests.e2e.test_chat_page import (  # noqa: E402,F401  (browser, screenshots: the shared fixtures)
    VIEWPORTS, Chat, browser, delta, no_horizontal_scroll, screenshots, sse,
)
from tests.gateway.knowledge.test_index_and_retrieval import index  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# Real Markdown, not written for this test: three of the project's own documents.
DOCS = [ROOT / "docs" / "CHAT_PAGE.md", ROOT / "docs" / "SECURITY.md", ROOT / "docs" / "ARCHITECTURE.md"]
# Markup in a document must reach the page as text. No real document carries a live payload,
# so this one file is written here.
PAYLOAD = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=1</script> Lighthouse keepers log the weather.'
KEY = "kb-secret"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("knowledge")


@pytest.fixture(scope="module")
def kb_gateway(start_gateway, data_dir):
    """A gateway (no API key, as the page sends none) over a knowledge-base folder that starts empty."""
    return start_gateway(env={"OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)})


@pytest.fixture(scope="module")
def indexed(kb_gateway, data_dir, tmp_path_factory):
    """Two knowledge bases, written by `oss-sidecar index` while the gateway runs."""
    assert "3 files added" in index(data_dir, *map(str, DOCS), "--collection", "project-docs")
    payload_dir = tmp_path_factory.mktemp("payload")
    (payload_dir / "markup.md").write_text(f"# Weather log\n\n{PAYLOAD}\n")
    assert "1 files added" in index(data_dir, str(payload_dir), "--collection", "markup")
    return kb_gateway


def collections(gateway, **headers) -> httpx.Response:
    return httpx.get(gateway.url + "/v1/knowledge/collections", headers=headers, timeout=30)


def file_text(name: str) -> str:
    return " ".join(next(d for d in DOCS if d.name == name).read_text().split())


# ---------------------------------------------------------------- GET /v1/knowledge/collections


def test_collections_is_an_empty_list_before_anything_is_indexed(kb_gateway, data_dir):
    answer = collections(kb_gateway)
    assert answer.status_code == 200
    assert answer.json() == {"object": "list", "data": []}
    assert list(data_dir.iterdir()) == [], "listing wrote to the knowledge-base folder"


def test_collections_lists_what_index_built(indexed):
    answer = collections(indexed)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["object"] == "list"
    assert [c["id"] for c in body["data"]] == ["markup", "project-docs"]
    for c in body["data"]:
        assert c["object"] == "knowledge.collection"
        assert isinstance(c["chunks"], int) and c["chunks"] >= 1
        assert c["embedding_model"]
    assert body["data"][1]["chunks"] > 3  # three documents of several chunks each
    # The OpenAPI document describes the route.
    assert "/v1/knowledge/collections" in httpx.get(indexed.url + "/openapi.json").json()["paths"]


def test_collections_needs_the_api_key_and_is_empty_without_chromadb(start_gateway, indexed, data_dir, tmp_path):
    """A gateway with an API key whose Python cannot import chromadb (the `rag` extra missing):
    a module of that name that fails to import stands first on its path."""
    hidden = tmp_path / "no-chromadb" / "chromadb"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("chromadb is not installed here")\n')
    keyed = start_gateway("--api-key", KEY, env={"OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir),
                                                  "PYTHONPATH": str(hidden.parent)})
    refused = collections(keyed)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert collections(keyed, Authorization="Bearer wrong").status_code == 401
    allowed = collections(keyed, Authorization=f"Bearer {KEY}")
    assert allowed.status_code == 200
    assert allowed.json() == {"object": "list", "data": []}  # the folder has two, but no chromadb to read them


# ---------------------------------------------------------------- the chat page


@pytest_asyncio.fixture(loop_scope="session")
async def kb_chat(browser, indexed):
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    c = Chat(page, indexed)
    c.urls = []
    page.on("request", lambda r: c.urls.append(r.url))
    await c.open()
    # The list arrives after the page is ready; on a loaded machine Chroma takes its time to open.
    await expect(page.locator("#knowledge")).to_have_attribute("data-count", "2", timeout=60_000)
    try:
        yield c
    finally:
        await context.close()
    assert not c.errors, f"JavaScript errors on the page: {c.errors}"
    outside = [u for u in c.urls if not (u.startswith(indexed.url + "/") or u.startswith("data:"))]
    assert not outside, f"the page fetched from outside the gateway: {outside}"


def selector(chat):
    return chat.page.get_by_label("Knowledge base", exact=True)


async def test_answer_from_a_knowledge_base_shows_numbered_sources_that_open_to_the_chunk(kb_chat):
    page = kb_chat.page
    box = selector(kb_chat)
    options = await box.locator("option").all_inner_texts()
    assert options[0] == "None" and [re.sub(r" \(\d+ chunks\)$", "", o) for o in options[1:]] == ["markup", "project-docs"]
    await expect(box).to_have_value("")  # None by default

    # Without a knowledge base the page works as before: no retrieval field, no sources.
    await kb_chat.set_param("Max new tokens", 8)
    await kb_chat.send("Say hello.")
    await kb_chat.wait_idle()
    assert "retrieval" not in kb_chat.requests[-1]
    await expect(kb_chat.answers().last.locator(".sources")).to_be_hidden()

    await box.select_option("project-docs")
    await kb_chat.set_param("Sources per question", 3)
    await kb_chat.set_param("Max new tokens", 24)
    await kb_chat.send("Which licence does the vendored DOMPurify library of the chat page have?")
    await kb_chat.wait_idle(timeout=120_000)
    assert kb_chat.requests[-1]["retrieval"] == {"collection": "project-docs", "top_k": 3}
    answer = kb_chat.answers().last
    assert (await answer.locator(".answer").inner_text()).strip(), "the model's answer is empty"
    await expect(answer.get_by_role("region", name="Sources")).to_contain_text("Sources from project-docs")
    sources = answer.locator("details.source")
    await expect(sources).to_have_count(3)
    summaries = [s.strip() for s in await sources.locator("summary").all_inner_texts()]
    assert [s.split(" ", 1)[0] for s in summaries] == ["[1]", "[2]", "[3]"], summaries
    # file (and page), then the chunk's first words: sources from one file differ before they are opened
    names = [s.split(" ", 1)[1].split(" — ")[0] for s in summaries]
    assert all(n in {d.name for d in DOCS} for n in names), summaries
    assert names[0] == "CHAT_PAGE.md", summaries
    snippets = [s.split(" — ", 1)[1] for s in summaries]
    assert len(set(snippets)) == 3, snippets

    # Closed until asked; opened, it shows where the chunk is and the chunk's own text.
    first = sources.first
    text = first.locator(".source-text")
    await expect(text).to_be_hidden()
    await first.locator("summary").click()
    await expect(text).to_be_visible()
    shown = await text.inner_text()
    assert "DOMPurify" in shown
    first_words = snippets[0].removesuffix(" …").split()
    # (Markdown's marks left out: #, >, *, `, |)
    assert " ".join(first_words) in " ".join(re.sub(r"[#>*`|]+", " ", shown).split()), (snippets[0], shown[:200])
    assert " ".join(shown.split()) in file_text("CHAT_PAGE.md"), "the chunk shown is not text of the file"
    await expect(first.locator(".source-where")).to_contain_text(str(DOCS[0]))
    await expect(first.locator(".source-where")).to_contain_text(re.compile(r"chunk \d+ · similarity 0\.\d\d"))

    # Kept with the answer across a reload, and in the JSON export.
    await page.reload()
    await page.wait_for_function("window.__chatReady === true")
    await expect(kb_chat.answers().last.locator("details.source")).to_have_count(3)
    await expect(selector(kb_chat)).to_have_value("project-docs")  # the choice is remembered
    async with page.expect_download() as dl:
        await kb_chat.button("Export JSON").click()
    exported = json.loads(Path(await (await dl.value).path()).read_text())
    assert [s["ref"] for s in exported["messages"][-1]["sources"]] == [1, 2, 3]


async def test_markup_in_a_document_is_shown_as_text(kb_chat):
    await selector(kb_chat).select_option("markup")
    await kb_chat.set_param("Sources per question", 1)
    await kb_chat.set_param("Max new tokens", 8)
    await kb_chat.send("What do lighthouse keepers log?")
    await kb_chat.wait_idle(timeout=120_000)
    source = kb_chat.answers().last.locator("details.source")
    await expect(source).to_have_count(1)
    await source.locator("summary").click()
    await expect(source.locator(".source-text")).to_contain_text(PAYLOAD)
    assert await kb_chat.answers().last.locator(".sources img, .sources script, .sources [onerror]").count() == 0
    assert await kb_chat.page.evaluate("window.__pwned") is None


async def test_citations_in_the_answer_open_their_source(kb_chat):
    """Test double for the answer only: the tiny model does not reliably write [ref N], so this
    one answer (sources in the first event, as the gateway sends them) comes from here."""
    sources = [
        {"ref": 1, "collection": "project-docs", "source": str(DOCS[0]), "chunk": 4, "score": 0.61,
         "text": "DOMPurify 3.5.0 is licensed MPL-2.0 OR Apache-2.0."},
        {"ref": 2, "collection": "project-docs", "source": str(DOCS[1]), "chunk": 0, "score": 0.42,
         "text": "<b onmouseover=\"window.__pwned=1\">Host names are checked.</b>"},
    ]

    async def citing_model(route):
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=sse(
            {"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": "double", "choices": [],
             "sources": sources},
            delta(role="assistant", content="DOMPurify is MPL-2.0 or Apache-2.0 [ref 1]; hosts are checked [ref 2]. "),
            delta(content="Not a source: [ref 7]. `[ref 1]` in code stays code."),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ))

    await selector(kb_chat).select_option("project-docs")
    await kb_chat.page.route("**/v1/chat/completions", citing_model)
    await kb_chat.send("Which licence has DOMPurify?")
    await kb_chat.wait_idle()
    answer = kb_chat.answers().last
    cites = answer.locator(".answer button.cite")
    await expect(cites).to_have_text(["[1]", "[2]"])  # [ref 7] names no source; code is left alone
    await expect(answer.locator("details.source.cited")).to_have_count(2)
    await expect(answer.locator(".sources-note")).to_be_hidden()  # it cites: no "cites none" note
    await expect(answer.locator(".answer")).to_contain_text("Not a source: [ref 7].")
    await expect(answer.locator(".answer code")).to_have_text("[ref 1]")
    second = answer.locator('details.source[data-ref="2"]')
    assert await second.get_attribute("open") is None
    await answer.get_by_role("button", name="Source 2").click()
    assert await second.get_attribute("open") is not None
    await expect(second.locator(".source-text")).to_have_text(sources[1]["text"])
    await second.locator(".source-text").hover()
    assert await kb_chat.page.evaluate("window.__pwned") is None


# Records, in the page, when the "reading N sources" state, the sources and the first answer text
# appear after Send (ms).
WATCH = """() => new Promise((resolve) => {
  const seen = {};
  const obs = new MutationObserver(() => {
    const last = [...document.querySelectorAll("article.msg.assistant")].pop();
    if (!last) return;
    const now = performance.now() - t0;
    const reading = last.querySelector(".reading");
    if (seen.reading === undefined && reading && !reading.hidden) { seen.reading = now; seen.readingText = reading.textContent; }
    const box = last.querySelector(".sources");
    if (seen.sources === undefined && box && !box.hidden) seen.sources = now;
    if (seen.first === undefined && last.querySelector(".answer").textContent.trim()) { seen.first = now; obs.disconnect(); resolve(seen); }
  });
  obs.observe(document.getElementById("messages"), { subtree: true, childList: true, attributes: true, characterData: true });
  const t0 = performance.now();
  document.getElementById("send").click();
})"""


@pytest.mark.parametrize("size, scheme", [("phone", "light"), ("desktop", "dark")])
async def test_sources_appear_before_the_first_token_and_are_listed_when_not_cited(
        browser, indexed, screenshots, size, scheme):
    """The gateway sends the sources right after retrieval; the page shows them with a "reading N
    sources" state while the model reads its prompt. The small model seldom writes [ref N]: the
    answer then still lists what it was given, and says it cites none of it."""
    context = await browser.new_context(viewport=VIEWPORTS[size], color_scheme=scheme)
    chat = Chat(await context.new_page(), indexed)
    page = chat.page
    try:
        await chat.open()
        await expect(page.locator("#knowledge")).to_have_attribute("data-count", "2", timeout=60_000)
        await selector(chat).select_option("project-docs")
        if size == "phone":
            await chat.button("Parameters").click()
        await chat.set_param("Sources per question", 4)
        await chat.set_param("Max new tokens", 12)
        if size == "phone":
            await chat.button("Close parameters").click()
        # A question of its own per case, so no earlier prompt is cached in the engine.
        await chat.message_box.fill(f"How does the chat page look on a {size} in {scheme} mode?")
        seen = await page.evaluate(WATCH)
        assert seen.get("sources") is not None and seen["sources"] < seen["first"], seen
        assert seen.get("readingText") == "Reading 4 sources…", seen
        await chat.wait_idle(timeout=120_000)
        answer = chat.answers().last
        await expect(answer.locator(".reading")).to_be_hidden()
        await expect(answer.locator("details.source")).to_have_count(4)
        if not await answer.locator(".answer button.cite").count():
            await expect(answer.locator(".sources-note")).to_have_text(
                "The answer cites none of these 4 passages; they are what it was given to read.")
        await no_horizontal_scroll(page)
        await answer.locator("details.source summary").first.click()
        await page.screenshot(path=screenshots / f"{size}-{scheme}-sources.png")
        print(f"{size}/{scheme}: reading after {seen['reading']:.0f} ms, sources after {seen['sources']:.0f} ms, "
              f"first token after {seen['first']:.0f} ms")
    finally:
        await context.close()
    assert not chat.errors, chat.errors


@pytest.mark.skipif(not os.environ.get("CHAT_PAGE_SCREENSHOT"),
                    reason="set CHAT_PAGE_SCREENSHOT=docs/chat-page.png to refresh the screenshot")
async def test_screenshot_answer_with_sources(kb_chat):
    """Not a check: refreshes the README's screenshot from a real conversation: a knowledge base
    chosen in the selector, a real answer, its sources with the first one open; and the same
    conversation on a phone (docs/chat-page-phone.png, in docs/CHAT_PAGE.md)."""
    await selector(kb_chat).select_option("project-docs")
    await kb_chat.set_param("Sources per question", 3)
    await kb_chat.set_param("Temperature", 0.2)
    await kb_chat.set_param("Max new tokens", 96)
    await kb_chat.send("Which licence does the vendored DOMPurify library of the chat page have?")
    await kb_chat.wait_idle(timeout=240_000)
    await kb_chat.answers().last.locator("details.source summary").first.click()
    path = Path(os.environ["CHAT_PAGE_SCREENSHOT"])
    await kb_chat.page.screenshot(path=path)
    # The same conversation on a phone (the conversation is kept in the browser's storage).
    await kb_chat.page.set_viewport_size(VIEWPORTS["phone"])
    await kb_chat.page.reload()
    await kb_chat.page.wait_for_function("window.__chatReady === true")
    await kb_chat.answers().last.locator("details.source summary").nth(1).click()
    await kb_chat.page.screenshot(path=path.with_name(f"{path.stem}-phone{path.suffix}"))

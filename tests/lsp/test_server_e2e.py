"""End to end: pygls' LanguageClient drives ``oss-sidecar lsp`` against the real gateway
(``gateway`` fixture: the embedded SmolLM2-135M on llama.cpp). Token limits stay small: the
CPU makes ~60 tokens/s."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from lsp_harness import free_port, sidecar

PY = "file:///work/demo/shapes.py"
CODE = (
    "import math\n"
    "\n"
    "\n"
    "def circle_area(radius):\n"
    "    return math.pi * radius * radius\n"
    "\n"
    "\n"
    "def square_area(side):\n"
    "    return \n"
)


def aborted(gateway) -> int:
    return gateway.stats()["gateway_counters"]["requests_aborted_total"]


def generating(gateway) -> bool:
    return gateway.stats()["requests"]["running"] > 0


async def wait_until(predicate, timeout: float = 20.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(interval)
    return bool(await asyncio.to_thread(predicate))


async def test_initialize_advertises_features_and_reports_ready(gateway):
    async with sidecar(gateway.url) as (client, result):
        caps = result.capabilities
        assert caps.inline_completion_provider
        assert caps.code_action_provider.resolve_provider is True
        assert "ossSidecar.showMarkdown" in caps.execute_command_provider.commands
        assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
        await client.wait_status("ready")
        assert client.messages == []


async def test_inline_completion_returns_items(gateway):
    async with sidecar(gateway.url, maxTokens=16) as (client, _):
        client.open(PY, CODE)
        result = await client.inline(PY, 8, len("    return "))
        assert isinstance(result, types.InlineCompletionList)
        assert len(result.items) == 1, (client.messages, await client.request("ossSidecar/stats", {}))
        text = result.items[0].insert_text
        assert text.strip() and text == text.rstrip()
        # repeated position: answered from the cache, no new gateway request (once the gateway
        # has counted the first: a stream the server closed at its block's end ends there later)
        assert await wait_until(lambda: not generating(gateway))
        before = gateway.stats()["gateway_counters"]["requests_total"]
        again = await client.inline(PY, 8, len("    return "))
        assert again.items[0].insert_text == text
        assert gateway.stats()["gateway_counters"]["requests_total"] == before
        stats = await client.request("ossSidecar/stats", {})
        assert stats["cache_hits"] >= 1


async def test_incremental_and_full_sync_with_utf16_positions(gateway):
    async with sidecar(gateway.url) as (client, _):
        uri = "file:///work/demo/unicode.py"
        client.open(uri, 'label = "😀"\nname = "漢字"\n')
        # insert after the emoji: column 10 in UTF-16 (the emoji is two code units)
        client.edit(uri, 2, (0, len('label = "') + 2), (0, len('label = "') + 2), " ok")
        # replace 漢字 (two code units) with 東京都
        client.edit(uri, 3, (1, len('name = "')), (1, len('name = "') + 2), "東京都")
        ctx = await client.context_at(uri, 1, len('name = "東京都'))
        assert ctx["prefix"] == 'label = "😀 ok"\nname = "東京都'
        assert ctx["suffix"] == '"\n'
        assert ctx["midLine"] is True
        client.replace_all(uri, 4, "x = 1\ny = ")
        ctx = await client.context_at(uri, 1, 4)
        assert (ctx["prefix"], ctx["suffix"]) == ("x = 1\ny = ", "")


async def test_code_actions_listed_and_resolved(gateway):
    # resolve may wait as long as it takes here (a loaded machine makes the model slow)
    async with sidecar(gateway.url, chatMaxTokens=24, resolveTimeoutMs=120000) as (client, _):
        client.open(PY, CODE)
        selection = types.Range(
            start=types.Position(line=3, character=0), end=types.Position(line=5, character=0)
        )
        listed = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=PY),
                range=selection,
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        titles = [a.title for a in listed]
        assert titles == [
            "AI: Explain",
            "AI: Fix",
            "AI: Refactor",
            "AI: Add docstring",
            "AI: Write tests",
        ]
        assert all(a.edit is None and a.command is None for a in listed)  # model runs on resolve

        docstring = next(a for a in listed if a.title == "AI: Add docstring")
        resolved = await client.code_action_resolve_async(docstring)
        change = resolved.edit.document_changes[0]
        assert change.text_document.uri == PY and change.text_document.version == 1
        (edit,) = change.edits
        assert edit.range == selection
        assert edit.new_text.strip()

        explain = next(a for a in listed if a.title == "AI: Explain")
        resolved = await client.code_action_resolve_async(explain)
        assert resolved.command.command == "ossSidecar.showMarkdown"
        (arg,) = resolved.command.arguments
        assert arg["title"] == "Explain" and arg["markdown"].strip()
        # clients without their own handler: the server shows it
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ossSidecar.showMarkdown", arguments=[arg])
        )
        await wait_until(lambda: bool(client.messages), 60)
        assert client.messages[-1].message.startswith("Explain")

        # a cursor on a diagnostic offers Fix with that diagnostic
        diag = types.Diagnostic(
            range=types.Range(
                start=types.Position(line=8, character=4), end=types.Position(line=8, character=10)
            ),
            message="missing return value",
        )
        fixes = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=PY),
                range=types.Range(start=diag.range.start, end=diag.range.start),
                context=types.CodeActionContext(diagnostics=[diag]),
            )
        )
        assert [a.title for a in fixes] == ["AI: Fix"]
        assert fixes[0].data["diagnostics"] == ["missing return value"]


async def test_ask_streams_progress_and_returns_markdown(gateway):
    async with sidecar(gateway.url, chatMaxTokens=24) as (client, _):
        client.open(PY, CODE)
        result = await client.request(
            "ossSidecar/ask",
            {
                "textDocument": {"uri": PY},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 0}},
                "question": "What does this function return?",
                "partialResultToken": "ask-1",
            },
        )
        markdown = result["markdown"]
        assert markdown.strip()
        pieces = client.progress.get("ask-1", [])
        assert len(pieces) > 1
        assert "".join(p["markdown"] for p in pieces) == markdown


async def test_cancel_request_reaches_the_engine(gateway):
    async with sidecar(gateway.url, chatMaxTokens=400) as (client, _):
        client.open(PY, CODE)
        before = aborted(gateway)
        params = {
            "textDocument": {"uri": PY},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}},
            "question": "Write a long, detailed tutorial about this module.",
            "partialResultToken": "ask-cancel",
        }
        pending = asyncio.ensure_future(client.request("ossSidecar/ask", params, msg_id="ask-cancel-id"))
        assert await wait_until(lambda: len(client.progress.get("ask-cancel", [])) >= 2, 30, 0.05)
        client.cancel("ask-cancel-id")
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, 10)
        assert await wait_until(lambda: aborted(gateway) > before, 10)


async def test_superseded_completion_is_cancelled_down_to_the_engine(gateway):
    async with sidecar(gateway.url, maxTokens=200) as (client, _):
        uri = "file:///work/demo/long.py"
        text = "# A module of small numeric helpers.\n\n\ndef mean(values):\n    "
        client.open(uri, text)
        before = aborted(gateway)
        first = asyncio.ensure_future(client.inline(uri, 4, 4))
        # superseded as soon as the engine generates (the answer may end early at its block's end)
        assert await wait_until(lambda: generating(gateway), interval=0.01)
        # typing supersedes it: the stale request is answered empty and aborted at the gateway
        client.edit(uri, 2, (4, 4), (4, 4), "t")
        stale = await asyncio.wait_for(first, 10)
        assert list(stale.items) == []
        assert await wait_until(lambda: aborted(gateway) > before, 10)
        stats = await client.request("ossSidecar/stats", {})
        assert stats["superseded"] >= 1


async def test_configuration_change_applies(gateway):
    async with sidecar(gateway.url) as (client, _):
        client.open(PY, CODE)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"ossSidecar": {"features": {"inlineCompletion": False, "ask": False}}}
            )
        )
        result = await client.inline(PY, 8, len("    return "))
        assert list(result.items) == []
        answer = await client.request("ossSidecar/ask", {"question": "hi"})
        assert answer["markdown"] == ""
        # the bare object form, and back on
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"features": {"inlineCompletion": True}, "maxTokens": 8}
            )
        )
        result = await client.inline(PY, 8, len("    return "))
        assert len(result.items) == 1


async def test_gateway_down_then_recovers(start_gateway):
    port = free_port()
    async with sidecar(f"http://127.0.0.1:{port}") as (client, _):
        client.open(PY, CODE)
        await client.wait_status("unreachable")
        for _ in range(3):  # answered (empty), not left waiting for a gateway that is not there
            result = await client.inline(PY, 8, len("    return "))
            assert list(result.items) == []
        answer = await client.request("ossSidecar/ask", {"question": "hi"})
        assert answer["markdown"] == ""
        warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
        assert len(warnings) == 1 and str(port) in warnings[0].message

        handle = await asyncio.to_thread(start_gateway, "--port", str(port))
        try:
            result = None
            for _ in range(60):
                result = await client.inline(PY, 8, len("    return "))
                if result.items:
                    break
                await asyncio.sleep(0.5)
            assert result is not None and len(result.items) == 1
            assert client.statuses[-1]["state"] == "ready"
            assert len([m for m in client.messages if m.type == types.MessageType.Warning]) == 1
        finally:
            stop = getattr(handle, "stop", None) or getattr(handle, "close", None)
            if stop is not None:
                stop()


async def test_cancel_request_on_inline_completion_reaches_the_engine(gateway):
    async with sidecar(gateway.url, maxTokens=200) as (client, _):
        uri = "file:///work/demo/cancel.py"
        client.open(uri, "# Utilities for parsing log files.\n\n\ndef parse_line(line):\n    ")
        before = aborted(gateway)
        pending = asyncio.ensure_future(
            client.request(
                types.TEXT_DOCUMENT_INLINE_COMPLETION,
                client.completion_params(uri, 4, 4),
                msg_id="inline-cancel-id",
            )
        )
        assert await wait_until(lambda: generating(gateway), interval=0.01)
        client.cancel("inline-cancel-id")
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, 10)
        assert await wait_until(lambda: aborted(gateway) > before, 10)
        stats = await client.request("ossSidecar/stats", {})
        assert stats["cancelled_by_client"] == 1


async def test_gateway_errors_and_timeouts_answer_empty_then_recover(gateway):
    async with sidecar(gateway.url, model="no-such-model") as (client, _):
        client.open(PY, CODE)
        # erroring: the gateway answers 404 model_not_found
        result = await client.inline(PY, 8, len("    return "))
        assert list(result.items) == []
        warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
        assert len(warnings) == 1 and "no-such-model" in warnings[0].message
        # slow: an answer later than completionTimeoutMs is given up on
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"model": None, "completionTimeoutMs": 1})
        )
        result = await client.inline(PY, 8, len("    return "))
        assert list(result.items) == []  # given up on: with time to wait, the same request gets an item (below)
        # still one warning: the server does not nag
        assert len([m for m in client.messages if m.type == types.MessageType.Warning]) == 1
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"completionTimeoutMs": 60000})
        )
        result = await client.inline(PY, 8, len("    return "))
        assert len(result.items) == 1
        assert client.statuses[-1]["state"] == "ready"

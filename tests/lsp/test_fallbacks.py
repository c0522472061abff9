"""What clients without inline completion or without ``codeAction/resolve`` get (Neovim before
0.12, eglot, Helix, ...): pygls' LanguageClient with those capabilities left out, against the
real gateway."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import pytest
from lsp_harness import capabilities, sidecar
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pygls.uris import to_fs_path

from lsp import protocol
from lsp.actions import ACTIONS

URI = "file:///work/demo/ops.py"
CODE = "def mul(a, b):\n    return a * b\n\n\ndef add(a, b):\n    ret\n"


def action_params(uri: str, start: tuple[int, int], end: tuple[int, int], diagnostics=()):
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1]),
        ),
        context=types.CodeActionContext(diagnostics=list(diagnostics)),
    )


async def wait_for(predicate, timeout: float = 120.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        await asyncio.sleep(interval)
    return bool(predicate())


async def test_completion_items_for_clients_without_inline_completion(gateway):
    async with sidecar(gateway.url, caps=capabilities(inline=False), maxTokens=8) as (client, init):
        assert init.capabilities.completion_provider is not None
        client.open(URI, CODE)
        params = types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=5, character=len("    ret")),
        )
        result = await client.text_document_completion_async(params)
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        assert len(result.items) == 1, client.messages
        (item,) = result.items
        assert item.detail == "oss-sidecar (AI)" and item.label_details.description == "AI"
        # the edit replaces the typed word with the word plus the suggestion
        assert item.text_edit.range == types.Range(
            start=types.Position(line=5, character=4), end=types.Position(line=5, character=7)
        )
        assert item.text_edit.new_text.startswith("ret") and len(item.text_edit.new_text) > 3
        assert item.label.startswith("ret") and item.filter_text.startswith("ret")
        # same cache as ghost text: asking again costs no gateway request (once the gateway has
        # counted the first: a stream the server closed at its block's end ends there later)
        assert await wait_for(lambda: gateway.stats()["requests"]["running"] == 0, 20)
        before = gateway.stats()["gateway_counters"]["requests_total"]
        again = await client.text_document_completion_async(params)
        assert again.items[0].text_edit.new_text == item.text_edit.new_text
        assert gateway.stats()["gateway_counters"]["requests_total"] == before


async def test_no_completion_items_for_clients_with_inline_completion(gateway):
    async with sidecar(gateway.url) as (_, init):
        assert init.capabilities.completion_provider is None
        assert init.capabilities.inline_completion_provider


async def test_actions_run_as_commands_without_resolve_support(gateway):
    caps = capabilities(resolve=False)
    async with sidecar(gateway.url, caps=caps, chatMaxTokens=24) as (client, _):
        client.open(URI, CODE)
        # a linewise selection of lines 0-1 as Neovim sends it: one past the last line's end
        listed = await client.text_document_code_action_async(
            action_params(URI, (0, 0), (1, len("    return a * b") + 1))
        )
        assert [a.title for a in listed] == [a.title for a in ACTIONS]
        assert all(a.command.command == protocol.RUN_ACTION for a in listed)
        docstring = next(a for a in listed if a.title == "AI: Add docstring")
        (data,) = docstring.command.arguments
        assert data["range"]["end"] == {"line": 1, "character": len("    return a * b")}

        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.RUN_ACTION, arguments=[data])
        )
        # The command is answered before the model runs: its edit comes after the answer.
        assert not client.applied and not client.messages
        assert await wait_for(lambda: client.applied or client.messages), "nothing arrived"
        assert client.applied, [m.message for m in client.messages]
        (change,) = client.applied[0].edit.document_changes
        (edit,) = change.edits
        assert change.text_document.version == 1
        # exactly the selected lines: the line break after them stays
        assert edit.range == types.Range(
            start=types.Position(line=0, character=0),
            end=types.Position(line=1, character=len("    return a * b")),
        )
        assert not edit.new_text.endswith("\n")
        # $/progress on a token the server created: begin ... end
        (token,) = client.progress_tokens
        kinds = [p["kind"] for p in client.progress[token]]
        assert kinds[0] == "begin" and kinds[-1] == "end"

        # an answer (Explain) is shown as a document
        explain = next(a for a in listed if a.title == "AI: Explain")
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.RUN_ACTION, arguments=explain.command.arguments)
        )
        assert await wait_for(lambda: client.shown_documents or len(client.messages) > 0)
        (shown,) = client.shown_documents
        # beside the code (takeFocus false: Neovim 0.11 would replace the code buffer), in a
        # private folder of the server's (answer_files.py)
        assert shown.uri.endswith(".md") and not shown.take_focus
        path = Path(to_fs_path(shown.uri))
        assert path.read_text().startswith("# Explain\n")
        assert path.parent.name.startswith("oss-sidecar-") and path.parent.name != "oss-sidecar"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_slow_resolve_hands_over_to_the_command(gateway):
    # 64 tokens: the test model's refactor ends its code block (a block cut short is not applied)
    async with sidecar(gateway.url, chatMaxTokens=64, resolveTimeoutMs=1) as (client, _):
        client.open(URI, CODE)
        await client.wait_status("ready")  # the startup probe is done
        listed = await client.text_document_code_action_async(action_params(URI, (0, 0), (2, 0)))
        assert all(a.command is None for a in listed)  # resolve-capable: the lean listing
        refactor = next(a for a in listed if a.title == "AI: Refactor")
        before = gateway.stats()["gateway_counters"]["requests_total"]
        resolved = await client.code_action_resolve_async(refactor)
        assert resolved.edit is None and resolved.command.command == protocol.RUN_ACTION
        (data,) = resolved.command.arguments
        assert data["job"]
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.RUN_ACTION, arguments=[data])
        )
        assert await wait_for(lambda: client.applied or client.messages)
        assert client.applied, [m.message for m in client.messages]
        # the command took over the running job: one model request in all
        assert gateway.stats()["gateway_counters"]["requests_total"] == before + 1


async def test_empty_ranges_list_nothing_without_diagnostics(gateway):
    async with sidecar(gateway.url) as (client, _):
        client.open(URI, CODE)
        assert await client.text_document_code_action_async(action_params(URI, (1, 4), (1, 4))) is None
        # past the end of a line on both ends: empty once clamped
        assert await client.text_document_code_action_async(action_params(URI, (1, 40), (1, 90))) is None
        diag = types.Diagnostic(
            range=types.Range(start=types.Position(line=5, character=4), end=types.Position(line=5, character=7)),
            message="undefined name 'ret'",
        )
        fixes = await client.text_document_code_action_async(action_params(URI, (5, 90), (5, 99), [diag]))
        assert [a.title for a in fixes] == ["AI: Fix"]
        assert fixes[0].data["range"] == {
            "start": {"line": 5, "character": 0},
            "end": {"line": 6, "character": 0},
        }


async def test_status_notifications_only_for_clients_that_opt_in(gateway):
    caps = capabilities()
    caps.experimental = None
    async with sidecar(gateway.url, caps=caps, model="no-such-model") as (client, _):
        client.open(URI, CODE)
        result = await client.inline(URI, 5, 7)
        assert list(result.items) == []
        assert await wait_for(lambda: client.messages, 10)  # the failure is still told
        assert client.statuses == []


async def test_cancelling_the_progress_stops_the_action_down_to_the_engine(gateway):
    caps = capabilities(resolve=False)
    async with sidecar(gateway.url, caps=caps, chatMaxTokens=400) as (client, _):
        client.open(URI, CODE)
        listed = await client.text_document_code_action_async(action_params(URI, (0, 0), (2, 0)))
        tests = next(a for a in listed if a.title == "AI: Write tests")
        before = gateway.stats()["gateway_counters"]["requests_aborted_total"]
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.RUN_ACTION, arguments=tests.command.arguments)
        )
        # the model is answering: progress reports arrive
        assert await wait_for(lambda: client.progress_tokens and len(client.progress.get(client.progress_tokens[0], [])) >= 2, 60)
        (token,) = client.progress_tokens
        client.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token))
        assert await wait_for(lambda: client.progress[token][-1]["kind"] == "end", 20)
        assert client.progress[token][-1]["message"] == "cancelled"
        assert await wait_for(lambda: gateway.stats()["gateway_counters"]["requests_aborted_total"] > before, 20)
        assert client.applied == []


async def test_cancel_request_on_a_completion_reaches_the_engine(gateway):
    async with sidecar(gateway.url, caps=capabilities(inline=False), maxTokens=200) as (client, _):
        uri = "file:///work/demo/cancel_items.py"
        client.open(uri, "# Utilities for parsing log files.\n\n\ndef parse_line(line):\n    ")
        before = gateway.stats()["gateway_counters"]["requests_aborted_total"]
        params = types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=4)
        )
        pending = asyncio.ensure_future(
            client.request(types.TEXT_DOCUMENT_COMPLETION, params, msg_id="completion-cancel-id")
        )
        # cancelled as soon as the engine generates (the answer may end early at its block's end)
        assert await wait_for(lambda: gateway.stats()["requests"]["running"] > 0, 20, interval=0.01)
        client.cancel("completion-cancel-id")
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, 10)
        assert await wait_for(lambda: gateway.stats()["gateway_counters"]["requests_aborted_total"] > before, 20)
        stats = await client.request(protocol.STATS, {})
        assert stats["cancelled_by_client"] == 1


async def test_an_editor_that_cannot_apply_edits_is_told_with_an_error(gateway):
    # Vim's ALE: no codeAction/resolve, no workspace.applyEdit, and it hides Warnings
    caps = capabilities(inline=False, resolve=False, apply_edit=False)
    async with sidecar(gateway.url, caps=caps, chatMaxTokens=64) as (client, _):
        client.open(URI, CODE)
        listed = await client.text_document_code_action_async(action_params(URI, (0, 0), (2, 0)))
        refactor = next(a for a in listed if a.title == "AI: Refactor")
        before = gateway.stats()["gateway_counters"]["requests_total"]
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.RUN_ACTION, arguments=refactor.command.arguments)
        )
        assert await wait_for(lambda: client.messages)
        (message,) = client.messages
        assert message.type == types.MessageType.Error and not client.applied
        # told at once: the model was not asked for an edit that could not be made
        assert gateway.stats()["gateway_counters"]["requests_total"] == before
        assert message.message.startswith("AI: Refactor: nothing was changed: this editor does not accept edits")

"""An answer cut at ``chatMaxTokens`` (``finish_reason: "length"``) is never passed off as whole:
a replacement whose code was cut is not applied, an insertion is made with a warning, an
explanation and an Ask answer say so at their end."""

from __future__ import annotations

from lsp_harness import sidecar
from lsprotocol import types

URI = "file:///work/demo/cut.py"
CODE = "def mul(a, b):\n    return a * b\n\n\nx = mul(2, 3)\n"
SELECTION = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=2, character=0))
CUT = "cut at the token limit (chatMaxTokens = 8)"


async def actions(client) -> dict[str, types.CodeAction]:
    listed = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=SELECTION,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return {a.title: a for a in listed}


async def test_cut_answers_are_told(gateway):
    # 8 tokens: the test model's answer opens its code block and is cut inside it
    async with sidecar(gateway.url, chatMaxTokens=8, resolveTimeoutMs=120000) as (client, _):
        client.open(URI, CODE)
        listed = await actions(client)

        # a replacement: half the code in place of the selection would lose code: not applied
        resolved = await client.code_action_resolve_async(listed["AI: Add docstring"])
        assert resolved.edit is None
        message = client.messages[-1]
        assert message.type == types.MessageType.Warning
        assert message.message.startswith("AI: Add docstring: nothing was changed") and CUT in message.message

        # an insertion loses nothing: made, with a warning
        count = len(client.messages)
        resolved = await client.code_action_resolve_async(listed["AI: Write tests"])
        (edit,) = resolved.edit.document_changes[0].edits
        assert edit.new_text.strip()
        (message,) = client.messages[count:]
        assert message.type == types.MessageType.Warning
        assert "AI: Write tests: the inserted code is incomplete" in message.message and CUT in message.message

        # an explanation says so at its end
        resolved = await client.code_action_resolve_async(listed["AI: Explain"])
        (arg,) = resolved.command.arguments
        assert arg["markdown"].rstrip().endswith("raise ossSidecar.chatMaxTokens for longer answers)*")

        answer = await client.request(
            "ossSidecar/ask",
            {"textDocument": {"uri": URI}, "range": {"start": {"line": 0, "character": 0},
             "end": {"line": 2, "character": 0}}, "question": "What does it do?"},
        )
        assert CUT in answer["markdown"]


async def test_a_whole_code_block_is_applied_though_the_prose_after_it_was_cut(gateway):
    # the test model closes its block after ~20 tokens, then goes on talking
    async with sidecar(gateway.url, chatMaxTokens=24, resolveTimeoutMs=120000) as (client, _):
        client.open(URI, CODE)
        listed = await actions(client)
        resolved = await client.code_action_resolve_async(listed["AI: Add docstring"])
        (edit,) = resolved.edit.document_changes[0].edits
        assert edit.new_text.startswith("def mul(a, b):")
        assert not any("cut" in m.message for m in client.messages)

"""A real LSP client (pygls' LanguageClient) driving ``oss-sidecar lsp`` in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from lsp import protocol

ROOT = Path(__file__).resolve().parents[2]


def server_command() -> list[str]:
    """``oss-sidecar lsp`` through the CLI once it has the subcommand, else lsp.server directly."""
    cli = ROOT / "gateway" / "cli.py"
    if cli.exists() and '"lsp"' in cli.read_text(encoding="utf-8"):
        return [sys.executable, "-m", "gateway.cli", "lsp"]
    return [sys.executable, "-c", "from lsp.server import serve; serve()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(value: Any) -> Any:
    """Custom-method results arrive as namedtuple-like objects: make them dicts/lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fix_code_action_union(converter) -> None:
    """lsprotocol 2025.0.0 structures any ``Command | CodeAction`` that has a ``command`` key as a
    ``Command``, so a code action carrying a command arrives mangled. A command's ``command`` is a
    string, a code action's is an object: decide on that instead (the JSON on the wire is right)."""

    def hook(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, hook)
    from typing import Union

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)


class SidecarClient(LanguageClient):
    """Collects what the server sends on its own: messages, status, progress."""

    def __init__(self) -> None:
        super().__init__("oss-sidecar-tests", "0")
        _fix_code_action_union(self.protocol._converter)
        self.messages: list[types.ShowMessageParams] = []
        self.statuses: list[dict] = []
        self.progress: dict[Any, list[dict]] = {}
        self.status_event = asyncio.Event()
        self.applied: list[types.ApplyWorkspaceEditParams] = []
        self.shown_documents: list[types.ShowDocumentParams] = []
        self.progress_tokens: list[Any] = []
        # what workspace/applyEdit answers; a test can refuse edits
        self.apply_result = types.ApplyWorkspaceEditResult(applied=True)

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def _show(params: types.ShowMessageParams) -> None:
            self.messages.append(params)

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def _log(params) -> None:
            pass

        @self.feature(protocol.STATUS)
        def _status(params) -> None:
            self.statuses.append(_plain(params))
            self.status_event.set()

        @self.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            value = params.value
            if not isinstance(value, dict) and hasattr(value, "kind"):
                value = {"kind": value.kind, "message": getattr(value, "message", None)}
            self.progress.setdefault(params.token, []).append(_plain(value))

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create(params: types.WorkDoneProgressCreateParams) -> None:
            self.progress_tokens.append(params.token)

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def _apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            self.applied.append(params)
            return self.apply_result

        @self.feature(types.WINDOW_SHOW_DOCUMENT)
        def _show_document(params: types.ShowDocumentParams) -> types.ShowDocumentResult:
            self.shown_documents.append(params)
            return types.ShowDocumentResult(success=True)

    # -- helpers ------------------------------------------------------------------------------

    async def request(self, method: str, params: Any, msg_id: Any = None) -> Any:
        return _plain(await self.protocol.send_request_async(method, params, msg_id=msg_id))

    def cancel(self, msg_id: Any) -> None:
        self.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=version, text=text
                )
            )
        )

    def edit(self, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        """An incremental change; positions in UTF-16 code units."""
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=start[0], character=start[1]),
                            end=types.Position(line=end[0], character=end[1]),
                        ),
                        text=text,
                    )
                ],
            )
        )

    def replace_all(self, uri: str, version: int, text: str) -> None:
        """A full-text change."""
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def completion_params(self, uri: str, line: int, character: int, invoked: bool = True):
        return types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
                if invoked
                else types.InlineCompletionTriggerKind.Automatic
            ),
        )

    async def inline(self, uri: str, line: int, character: int, invoked: bool = True):
        return await self.text_document_inline_completion_async(
            self.completion_params(uri, line, character, invoked)
        )

    async def context_at(self, uri: str, line: int, character: int) -> dict:
        result = await self.request(
            protocol.DEBUG_CONTEXT,
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        return _plain(result)

    async def wait_status(self, state: str, timeout: float = 10.0) -> None:
        async def wait():
            while not any(s.get("state") == state for s in self.statuses):
                self.status_event.clear()
                await self.status_event.wait()

        await asyncio.wait_for(wait(), timeout)


def capabilities(
    inline: bool = True, resolve: bool = True, apply_edit: bool = True
) -> types.ClientCapabilities:
    """A client like VS Code; ``inline=False`` / ``resolve=False`` make it one like Neovim 0.7
    or eglot, without inline completion / without ``codeAction/resolve``; ``apply_edit=False``
    one like Vim's ALE, which cannot take ``workspace/applyEdit``."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=apply_edit,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(
                dynamic_registration=False
            ),
        ),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
            completion=None if inline else types.CompletionClientCapabilities(),
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit", "command"])
                if resolve
                else None,
            ),
        ),
        window=types.WindowClientCapabilities(
            work_done_progress=True,
            show_document=types.ShowDocumentClientCapabilities(support=True),
        ),
        # opts in to ossSidecar/status
        experimental={protocol.EXPERIMENTAL_KEY: {protocol.STATUS_CAPABILITY: True}},
    )


@contextlib.asynccontextmanager
async def sidecar(gateway_url: str, caps: types.ClientCapabilities | None = None, **options: Any):
    """A running language server connected to ``gateway_url``; yields (client, init result)."""
    client = SidecarClient()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    await client.start_io(*server_command(), cwd=str(ROOT), env=env)
    init_options = {
        "gatewayUrl": gateway_url,
        "maxTokens": 12,
        "temperature": 0.0,
        "chatMaxTokens": 24,
        "debounceMs": 0,
        "completionTimeoutMs": 60000,
        **options,
    }
    try:
        result = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=caps or capabilities(),
                    process_id=os.getpid(),
                    root_uri=ROOT.as_uri(),
                    initialization_options=init_options,
                )
            ),
            30,
        )
        client.initialized(types.InitializedParams())
        yield client, result
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 10)

"""The oss-sidecar language server: capabilities and handler registration only.

Each handler is a thin function that hands the request to its module:
inline completion → completion.py, code actions → actions.py, Ask AI → ask.py,
settings → config.py (through session.py). ``serve()`` is what ``oss-sidecar lsp`` runs.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import actions
from .ask import ASK_METHOD, ask
from .completion import CompletionService
from .session import Session
from .stdio import position_params, serve_stdio

log = logging.getLogger(__name__)

STATS_METHOD = "ossSidecar/stats"
CONTEXT_METHOD = "ossSidecar/debugContext"
VERSION = "0.1.0"


class SidecarServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "oss-sidecar",
            VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.session = Session(self._notify, self.window_show_message)
        self.completion = CompletionService(self.session, lambda: self.workspace)

    def _notify(self, method: str, params: Any) -> None:
        self.protocol.notify(method, params)


server = SidecarServer()


@server.feature(types.INITIALIZE)
def initialize(ls: SidecarServer, params: types.InitializeParams) -> None:
    ls.session.configure(params.initialization_options)


@server.feature(types.INITIALIZED)
async def initialized(ls: SidecarServer, params: types.InitializedParams) -> None:
    # Probe the gateway once so a user learns at startup (not at the first keystroke) that it is
    # not running. Failures are reported once by the session; nothing here can block the editor.
    from .client import GatewayError

    try:
        await ls.session.client.model_info(refresh=True)
    except GatewayError as exc:
        ls.session.gateway_failed(exc)
        return
    ls.session.status("ready")


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: SidecarServer, params: types.DidChangeConfigurationParams) -> None:
    ls.session.configure(params.settings)
    ls.completion.reset()


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: SidecarServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.completion.document_changed(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: SidecarServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.completion.document_changed(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: SidecarServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    return await ls.completion.inline_completion(params, ls.protocol.msg_id)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=sorted({a.kind for a in actions.ACTIONS if a.kind}),
        resolve_provider=True,
    ),
)
def code_action(ls: SidecarServer, params: types.CodeActionParams):
    return actions.list_actions(ls.session, params)


@server.feature(types.CODE_ACTION_RESOLVE)
async def code_action_resolve(ls: SidecarServer, action: types.CodeAction) -> types.CodeAction:
    return await actions.resolve_action(ls.session, ls.workspace, ls.client_capabilities, action)


@server.command(actions.SHOW_MARKDOWN)
def show_markdown(ls: SidecarServer, *args: Any) -> None:
    arguments = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    actions.show_markdown(ls.session, ls.window_show_message, arguments)


@server.feature(ASK_METHOD)
@position_params
async def ask_handler(ls: SidecarServer, params: Any) -> dict[str, str]:
    return await ask(ls.session, ls.workspace, ls.progress, params)


@server.feature(STATS_METHOD)
def stats_handler(ls: SidecarServer, params: Any) -> dict:
    """Diagnostics for benchmarks: counters and the server's own time per completion.

    ``{"replyTokens": true}`` adds the engine tokens behind each reply, by request id."""
    from .config import to_plain

    options = to_plain(params) or {}
    return ls.completion.stats.as_dict(with_replies=bool(options.get("replyTokens")))


@server.feature(CONTEXT_METHOD)
@position_params
def context_handler(ls: SidecarServer, params: Any) -> dict:
    """What a completion at ``{"textDocument": {"uri"}, "position"}`` would send the model."""
    return ls.completion.debug_context(params)


@server.feature(types.SHUTDOWN)
async def shutdown(ls: SidecarServer, params: Any) -> None:
    await ls.session.client.close()


def serve(tcp: str | None = None) -> None:
    """Run the language server: on stdio, or on ``tcp="HOST:PORT"``."""
    level = os.environ.get("SIDECAR_LSP_LOG", "WARNING").upper()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level, logging.WARNING))
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        sys.exit(serve_stdio(server))  # strict framing: see stdio.py


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else None)

"""The oss-sidecar language server: capabilities and handler registration only.

Each handler is a thin function that hands the request to its module:
completion (inline, and ``textDocument/completion`` for clients without inline completion) →
completion.py, code actions → actions.py (listing) and runner.py (running one), Ask AI → ask.py,
settings → config.py (through session.py). The custom names live in protocol.py.
``serve()`` is what ``oss-sidecar lsp`` runs.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureAlreadyRegisteredError
from pygls.lsp.server import LanguageServer

from . import actions, protocol
from .ask import ask
from .completion import CompletionService
from .runner import ActionRunner
from .session import Session
from .stdio import position_params, serve_stdio

log = logging.getLogger(__name__)

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
        self.runner = ActionRunner(self)

    def _notify(self, method: str, params: Any) -> None:
        self.protocol.notify(method, params)


server = SidecarServer()


@server.feature(types.INITIALIZE)
def initialize(ls: SidecarServer, params: types.InitializeParams) -> None:
    ls.session.configure(params.initialization_options)
    ls.session.status_notifications = protocol.wants_status(params.capabilities)
    # Clients with ghost text get no completion items (no duplicates); the others get the same
    # suggestion through textDocument/completion. pygls builds the capabilities after this.
    if not _has_inline_completion(params.capabilities):
        try:
            ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())(completion)
        except FeatureAlreadyRegisteredError:  # an earlier connection of this process (TCP)
            log.debug("textDocument/completion is already registered")


def _has_inline_completion(capabilities: types.ClientCapabilities) -> bool:
    document = capabilities.text_document
    return document is not None and document.inline_completion is not None


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


async def completion(ls: SidecarServer, params: types.CompletionParams) -> types.CompletionList:
    if _has_inline_completion(ls.client_capabilities):
        return types.CompletionList(is_incomplete=False, items=[])
    return await ls.completion.completion(params, ls.protocol.msg_id)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=sorted({a.kind for a in actions.ACTIONS if a.kind}),
        resolve_provider=True,
    ),
)
def code_action(ls: SidecarServer, params: types.CodeActionParams):
    # only open documents: the model works on what the editor shows
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    return actions.list_actions(ls.session, doc, ls.client_capabilities, params)


@server.feature(types.CODE_ACTION_RESOLVE)
async def code_action_resolve(ls: SidecarServer, action: types.CodeAction) -> types.CodeAction:
    return await ls.runner.resolve(action)


def _command_arguments(args: tuple) -> list:
    return args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)


@server.command(protocol.SHOW_MARKDOWN)
def show_markdown(ls: SidecarServer, *args: Any) -> None:
    actions.show_markdown(ls.session, ls.window_show_message, _command_arguments(args))


@server.command(protocol.RUN_ACTION)
def run_action(ls: SidecarServer, *args: Any) -> None:
    ls.runner.execute(_command_arguments(args))


@server.feature(protocol.ASK)
@position_params
async def ask_handler(ls: SidecarServer, params: Any) -> protocol.AskResult:
    return await ask(ls.session, ls.workspace, ls.progress, params)


@server.feature(protocol.STATS)
def stats_handler(ls: SidecarServer, params: Any) -> protocol.StatsResult:
    """Diagnostics for benchmarks: counters and the server's own time per completion.

    ``{"replyTokens": true}`` adds the engine tokens behind each reply, by request id."""
    from .config import to_plain

    options = to_plain(params) or {}
    return ls.completion.stats.as_dict(with_replies=bool(options.get("replyTokens")))


@server.feature(protocol.DEBUG_CONTEXT)
@position_params
def context_handler(ls: SidecarServer, params: Any) -> protocol.DebugContextResult:
    """What a completion at ``{"textDocument": {"uri"}, "position"}`` would send the model."""
    return ls.completion.debug_context(params)


@server.feature(types.SHUTDOWN)
async def shutdown(ls: SidecarServer, params: Any) -> None:
    await ls.session.client.close()
    ls.runner.answer_files.remove()


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

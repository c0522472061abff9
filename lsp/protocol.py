"""The server's own protocol beyond LSP: every ``ossSidecar/*`` method, command and capability,
with the shapes of their params and results (camelCase, as on the wire).

The VS Code extension declares the same in ``vscode-extension/src/protocol.ts``; its contract
test (``vscode-extension/test/integration/lspContract.ts``) compares the two through
``python -m lsp.protocol``, which prints ``describe()`` as JSON.
"""


import json
import sys
from typing import Any, Literal, NotRequired, TypedDict

# -- methods (JSON-RPC) ------------------------------------------------------------------------

ASK = "ossSidecar/ask"  # request, client → server
STATUS = "ossSidecar/status"  # notification, server → client (only to clients that opt in)
STATS = "ossSidecar/stats"  # request, client → server (diagnostics)
DEBUG_CONTEXT = "ossSidecar/debugContext"  # request, client → server (diagnostics)

# -- commands (workspace/executeCommand) ---------------------------------------------------------

SHOW_MARKDOWN = "ossSidecar.showMarkdown"  # an answer to show (AI: Explain)
RUN_ACTION = "ossSidecar.runAction"  # a code action, for clients without codeAction/resolve

# -- the client capability that opts in to STATUS ------------------------------------------------
# ``capabilities.experimental.ossSidecar.statusNotification: true`` in ``initialize``.

EXPERIMENTAL_KEY = "ossSidecar"
STATUS_CAPABILITY = "statusNotification"

StatusState = Literal["ready", "thinking", "unreachable"]


class Position(TypedDict):
    line: int
    character: int


class Range(TypedDict):
    start: Position
    end: Position


class TextDocumentIdentifier(TypedDict):
    uri: str


class AskParams(TypedDict, total=False):
    textDocument: TextDocumentIdentifier
    range: Range
    question: str
    partialResultToken: int | str


class AskResult(TypedDict):
    markdown: str


class AskPartialResult(TypedDict):
    """The value of each ``$/progress`` on an ask's ``partialResultToken``."""

    markdown: str


class StatusParams(TypedDict):
    state: StatusState
    message: NotRequired[str]


class StatsParams(TypedDict, total=False):
    replyTokens: bool


class Quantiles(TypedDict):
    count: int
    p50: float | None
    p90: float | None
    max: float | None


class StatsResult(TypedDict):
    requests: int
    cache_hits: int
    gateway_calls: int
    superseded: int
    cancelled_by_client: int
    errors: int
    items_returned: int
    tokens_generated: int
    reply_tokens: NotRequired[dict[str, int]]  # only with replyTokens: true
    overhead_ms: Quantiles
    prepare_ms: Quantiles
    gateway_ms: Quantiles


class DebugContextParams(TypedDict):
    textDocument: TextDocumentIdentifier
    position: Position


class Snippet(TypedDict):
    path: str
    content: str


class DebugContextResult(TypedDict):
    prefix: str
    suffix: str
    files: list[Snippet]
    midLine: bool
    estimatedTokens: int


class ShowMarkdownArgs(TypedDict, total=False):
    """The one argument of SHOW_MARKDOWN."""

    title: str
    markdown: str


class ActionData(TypedDict):
    """A code action's ``data`` (kept for resolve), and the one argument of RUN_ACTION."""

    id: str
    uri: str
    range: Range
    diagnostics: list[str]
    # set in the command a resolve hands over when the model took longer than it could wait
    job: NotRequired[str]


def wants_status(capabilities: Any) -> bool:
    """Whether the client's ``initialize`` capabilities opt in to STATUS notifications."""
    experimental = getattr(capabilities, "experimental", None)
    if not isinstance(experimental, dict):
        return False
    ours = experimental.get(EXPERIMENTAL_KEY)
    return isinstance(ours, dict) and ours.get(STATUS_CAPABILITY) is True


def _fields(cls: type) -> dict[str, bool]:
    """Field name → required, for the contract test."""
    return {name: name in cls.__required_keys__ for name in cls.__annotations__}


def describe() -> dict[str, Any]:
    """Every name and shape above, as plain JSON data."""
    return {
        "methods": {"ask": ASK, "status": STATUS, "stats": STATS, "debugContext": DEBUG_CONTEXT},
        "commands": {"showMarkdown": SHOW_MARKDOWN, "runAction": RUN_ACTION},
        "experimental": {"key": EXPERIMENTAL_KEY, "status": STATUS_CAPABILITY},
        "statusStates": list(StatusState.__args__),
        "types": {
            cls.__name__: _fields(cls)
            for cls in (
                AskParams,
                AskResult,
                AskPartialResult,
                StatusParams,
                StatsParams,
                StatsResult,
                DebugContextParams,
                DebugContextResult,
                ShowMarkdownArgs,
                ActionData,
            )
        },
    }


if __name__ == "__main__":
    json.dump(describe(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")

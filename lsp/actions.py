"""Code actions on a selection: what is offered, and what running one produces.

Listing is instant and model-free. The model runs when the user picks an action: inside
``codeAction/resolve`` for clients that declare resolve support for the properties the action
needs, otherwise through the ``ossSidecar.runAction`` command the listed action carries
(``runner.py`` runs it in the background and applies the result). Edits come back as a
``WorkspaceEdit`` (versioned ``documentChanges`` when the client supports them, so a stale edit is
refused); Explain comes back as the ``ossSidecar.showMarkdown`` command (docs/PROTOCOL.md).

Ranges are clamped to the document (``positions.py``) before anything else, so a linewise
selection whose end lies past its last line's end edits exactly the selected lines, and one that
starts in its first line's indentation starts at that line's start. The answer is re-indented to
the selection's indentation (``reindent.py``): a method stays inside its class. A range that
is empty once clamped (a cursor) gets no actions, except ``AI: Fix`` when the client sends
diagnostics there.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from lsprotocol import types
from pygls.workspace import TextDocument

from .positions import clamp_range, offset_at, position_at
from .prompts import SYSTEM, code_complete, code_context, describe, extract_code
from .reindent import fit, indentation, line_start, widen_to_indentation
from .protocol import RUN_ACTION, SHOW_MARKDOWN, ActionData, ShowMarkdownArgs
from .session import Session

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Action:
    id: str
    title: str
    kind: str
    instruction: str
    edit: str  # "replace" | "insert_after" | "none"


ACTIONS = (
    Action(
        "explain",
        "AI: Explain",
        types.CodeActionKind.Empty.value,
        "Explain what the selected code does, step by step, in Markdown.",
        "none",
    ),
    Action(
        "fix",
        "AI: Fix",
        types.CodeActionKind.QuickFix.value,
        "Fix the bugs in the selected code{diagnostics}. Reply with the corrected replacement "
        "for the selection only, in one code block.",
        "replace",
    ),
    Action(
        "refactor",
        "AI: Refactor",
        types.CodeActionKind.RefactorRewrite.value,
        "Refactor the selected code for readability without changing its behaviour. Reply with "
        "the replacement for the selection only, in one code block.",
        "replace",
    ),
    Action(
        "docstring",
        "AI: Add docstring",
        types.CodeActionKind.RefactorRewrite.value,
        "Add a docstring (or doc comment, as is idiomatic for the language) to the selected "
        "code. Reply with the selected code including the new documentation, in one code block.",
        "replace",
    ),
    Action(
        "tests",
        "AI: Write tests",
        types.CodeActionKind.Source.value,
        "Write unit tests for the selected code, in the project's language and usual test "
        "framework. Reply with the test code only, in one code block.",
        "insert_after",
    ),
)
BY_ID = {a.id: a for a in ACTIONS}


def _kind_allowed(kind: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def resolvable(capabilities: Any, action: Action) -> bool:
    """Whether the client resolves this action itself: it declared ``codeAction/resolve``
    support for the property the result goes in (``edit``, or ``command`` for Explain)."""
    try:
        properties = capabilities.text_document.code_action.resolve_support.properties
    except AttributeError:
        return False
    return ("command" if action.edit == "none" else "edit") in (properties or ())


def list_actions(
    session: Session,
    doc: TextDocument | None,
    capabilities: Any,
    params: types.CodeActionParams,
) -> list[types.CodeAction] | None:
    if not session.settings.features.code_actions:
        return None
    diagnostics = list(params.context.diagnostics or [])
    if doc is None:
        log.warning("code actions asked for a document that is not open: %s", params.text_document.uri)
        return None
    start, end = clamp_range(doc, params.range)
    empty = start == end
    rng = types.Range(start=position_at(doc, start), end=position_at(doc, end))
    if empty:
        if not diagnostics:
            return None  # nothing selected: no lightbulb on every cursor move
        # a cursor on a diagnostic: act on the diagnostic's whole lines
        first = min(d.range.start.line for d in diagnostics)
        last = max(d.range.end.line for d in diagnostics)
        start = offset_at(doc, types.Position(line=first, character=0))
        end = offset_at(doc, types.Position(line=last + 1, character=0))
        rng = types.Range(start=position_at(doc, start), end=position_at(doc, end))
    only = [str(getattr(k, "value", k)) for k in (params.context.only or [])]
    out = []
    for action in ACTIONS:
        if action.id != "fix" and empty:
            continue
        if not _kind_allowed(action.kind, only):
            continue
        data: ActionData = {
            "id": action.id,
            "uri": params.text_document.uri,
            "range": {
                "start": {"line": rng.start.line, "character": rng.start.character},
                "end": {"line": rng.end.line, "character": rng.end.character},
            },
            "diagnostics": [d.message for d in diagnostics],
        }
        out.append(
            types.CodeAction(
                title=action.title,
                kind=action.kind,
                diagnostics=diagnostics if action.id == "fix" and diagnostics else None,
                data=data,
                # without resolve support the command is the only way to run it
                command=None
                if resolvable(capabilities, action)
                else types.Command(title=action.title, command=RUN_ACTION, arguments=[data]),
            )
        )
    return out


def _range(data: dict[str, Any]) -> types.Range:
    r = data["range"]
    return types.Range(
        start=types.Position(line=r["start"]["line"], character=r["start"]["character"]),
        end=types.Position(line=r["end"]["line"], character=r["end"]["character"]),
    )


@dataclasses.dataclass
class Outcome:
    """What running an action produced: an edit, an answer to show, or why there is neither."""

    action: Action
    edit: types.WorkspaceEdit | None = None
    markdown: str | None = None
    problem: str | None = None
    warning: str | None = None  # about an edit that is made all the same (an answer cut short)


def action_of(data: Any) -> Action | None:
    return BY_ID.get(data.get("id")) if isinstance(data, dict) else None


async def run(
    session: Session,
    workspace,
    client_capabilities,
    data: dict[str, Any],
    on_piece: Callable[[str], None] | None = None,
) -> Outcome:
    """Ask the model for the action ``data`` describes and turn its answer into an outcome."""
    spec = BY_ID[data["id"]]
    settings = session.settings
    try:
        doc = workspace.get_text_document(data["uri"])
        start, end = clamp_range(doc, _range(data))
    except Exception:
        log.warning("cannot run %s: unknown document or range", spec.id, exc_info=True)
        return Outcome(spec, problem=f"the document {data.get('uri')} is not open")
    text = doc.source
    version = doc.version
    start = widen_to_indentation(text, start)
    starts_line = line_start(text, start) == start
    before, selection, after = code_context(text, start, end, settings.context_budget_tokens)
    diagnostics = data.get("diagnostics") or []
    instruction = spec.instruction.format(
        diagnostics=(" (diagnostics: " + "; ".join(diagnostics) + ")") if diagnostics else ""
    )
    path = _path_of(doc.uri)
    messages = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": describe(path, doc.language_id, before, selection, after)
            + "\n\n"
            + instruction,
        },
    ]
    answer = await session.chat(messages, on_piece)
    if answer is None:
        return Outcome(spec, problem="the gateway did not answer")
    if spec.edit == "none":
        note = f"\n\n*({answer.cut_note()})*" if answer.cut else ""
        return Outcome(spec, markdown=answer.text + note)
    code = extract_code(answer.text)
    if not code.strip():
        return Outcome(spec, problem="the model's answer held no code")
    warning = None
    if answer.cut and not code_complete(answer.text):
        if spec.edit == "replace":  # half the code in place of the whole selection: never
            return Outcome(spec, problem=f"nothing was changed: {answer.cut_note()}")
        warning = f"the inserted code is incomplete: {answer.cut_note()}"
    # the answer at the selection's indentation: a method stays inside its class
    indent = indentation(selection, starts_line)
    if spec.edit == "replace":
        code = fit(code, indent, starts_line)
        new_text = code + ("\n" if selection.endswith("\n") and not code.endswith("\n") else "")
        edit_range = types.Range(start=position_at(doc, start), end=position_at(doc, end))
    else:  # insert after the selection, on lines of its own
        new_text = ("\n" if selection.endswith("\n") else "\n\n") + fit(code, indent) + "\n"
        at = position_at(doc, end)
        edit_range = types.Range(start=at, end=at)
    edit = types.TextEdit(range=edit_range, new_text=new_text)
    workspace_edit = _workspace_edit(client_capabilities, doc.uri, version, edit)
    return Outcome(spec, edit=workspace_edit, warning=warning)


def fill(action: types.CodeAction, outcome: Outcome) -> types.CodeAction:
    """A resolved action from an outcome (``codeAction/resolve``)."""
    if outcome.edit is not None:
        action.edit = outcome.edit
    elif outcome.markdown is not None:
        action.command = show_markdown_command(outcome.action, outcome.markdown)
    return action


def show_markdown_command(spec: Action, markdown: str) -> types.Command:
    return types.Command(
        title=spec.title,
        command=SHOW_MARKDOWN,
        arguments=[ShowMarkdownArgs(title=spec.title.removeprefix("AI: "), markdown=markdown)],
    )


def _workspace_edit(capabilities, uri: str, version: int | None, edit: types.TextEdit):
    supports = False
    try:
        supports = bool(capabilities.workspace.workspace_edit.document_changes)
    except AttributeError:
        pass
    if supports:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=[edit],
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: [edit]})


def show_markdown(session: Session, show, arguments: Any) -> None:
    """``workspace/executeCommand ossSidecar.showMarkdown`` for clients without a handler."""
    args = list(arguments or [])
    payload = args[0] if args else {}
    if not isinstance(payload, dict):
        payload = {"markdown": str(payload)}
    title = payload.get("title") or "oss-sidecar"
    show(
        types.ShowMessageParams(
            type=types.MessageType.Info, message=f"{title}\n\n{payload.get('markdown', '')}"
        )
    )


def _path_of(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri

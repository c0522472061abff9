"""Code actions on a selection: ``textDocument/codeAction`` + ``codeAction/resolve``.

Listing is instant and model-free; the model runs only when the editor resolves the action the
user picked (LSP's resolve support, as lsp-ai does). Edits come back as a ``WorkspaceEdit``
(versioned ``documentChanges`` when the client supports them, so a stale edit is refused);
Explain comes back as the ``ossSidecar.showMarkdown`` command (docs/PROTOCOL.md).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from lsprotocol import types

from .prompts import SYSTEM, code_context, describe, extract_code
from .session import Session

log = logging.getLogger(__name__)

SHOW_MARKDOWN = "ossSidecar.showMarkdown"


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


def list_actions(
    session: Session, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    if not session.settings.features.code_actions:
        return None
    rng = params.range
    diagnostics = list(params.context.diagnostics or [])
    if rng.start == rng.end:
        if not diagnostics:
            return None  # nothing selected: no lightbulb on every cursor move
        # a cursor on a diagnostic: act on the diagnostic's lines
        rng = types.Range(
            start=types.Position(line=min(d.range.start.line for d in diagnostics), character=0),
            end=types.Position(line=max(d.range.end.line for d in diagnostics) + 1, character=0),
        )
    only = [str(getattr(k, "value", k)) for k in (params.context.only or [])]
    out = []
    for action in ACTIONS:
        if action.id != "fix" and params.range.start == params.range.end:
            continue
        if not _kind_allowed(action.kind, only):
            continue
        data = {
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
            )
        )
    return out


def _range(data: dict[str, Any]) -> types.Range:
    r = data["range"]
    return types.Range(
        start=types.Position(line=r["start"]["line"], character=r["start"]["character"]),
        end=types.Position(line=r["end"]["line"], character=r["end"]["character"]),
    )


async def resolve_action(
    session: Session, workspace, client_capabilities, action: types.CodeAction
) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else None
    if not data or data.get("id") not in BY_ID:
        return action
    spec = BY_ID[data["id"]]
    settings = session.settings
    try:
        doc = workspace.get_text_document(data["uri"])
        rng = _range(data)
        start = doc.offset_at_position(rng.start)
        end = doc.offset_at_position(rng.end)
    except Exception:
        log.warning("cannot resolve %s: unknown document or range", spec.id, exc_info=True)
        return action
    text = doc.source
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
    answer = await session.chat(messages)
    if answer is None:
        return action
    if spec.edit == "none":
        action.command = types.Command(
            title=spec.title,
            command=SHOW_MARKDOWN,
            arguments=[{"title": spec.title.removeprefix("AI: "), "markdown": answer}],
        )
        return action
    code = extract_code(answer)
    if not code.strip():
        return action
    if spec.edit == "replace":
        new_text = code + ("\n" if selection.endswith("\n") and not code.endswith("\n") else "")
        edit_range = rng
    else:  # insert after the selection
        new_text = ("\n" if selection.endswith("\n") else "\n\n") + code + "\n"
        edit_range = types.Range(start=rng.end, end=rng.end)
    edit = types.TextEdit(range=edit_range, new_text=new_text)
    action.edit = _workspace_edit(client_capabilities, doc.uri, doc.version, edit)
    return action


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

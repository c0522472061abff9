"""Running the code action the user picked, without blocking a request the client times out on.

Each run is a *job* (a task running ``actions.run``):

* ``codeAction/resolve`` starts a job and answers with its result if it comes within
  ``resolveTimeoutMs`` (4 s by default: eglot and lsp-mode give up on a request after 10 s);
  otherwise it answers with the ``ossSidecar.runAction`` command naming the job, which the
  client executes next, and the job goes on as below.
* ``workspace/executeCommand ossSidecar.runAction`` (what clients without resolve support get
  at listing) answers at once; the job runs — or keeps running — in the background with
  ``$/progress`` (cancellable where the client supports ``window/workDoneProgress``), then its
  result is applied with ``workspace/applyEdit``, or shown with ``window/showDocument`` (a
  Markdown file in a private folder: ``answer_files.py``) or ``window/showMessage``. Nothing
  fails silently: a refused edit, an answer without code or a gateway failure is reported with
  ``window/showMessage``; an edit for an editor that takes no ``workspace/applyEdit`` (Vim's
  ALE) is refused at once, at Error level, without asking the model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any

from lsprotocol import types

from . import actions
from .answer_files import AnswerFiles
from .config import to_plain
from .protocol import RUN_ACTION

log = logging.getLogger(__name__)

# an unclaimed result (resolve timed out and the client never ran the command) is dropped after
UNCLAIMED_S = 300.0
PROGRESS_EVERY_S = 0.25
CREATE_PROGRESS_S = 2.0


@dataclasses.dataclass
class _Job:
    task: asyncio.Task  # actions.run(...)
    progress: _Progress


class ActionRunner:
    def __init__(self, server) -> None:
        self._ls = server  # the SidecarServer: session, workspace, capabilities, LSP requests
        self._jobs: dict[str, _Job] = {}
        self._background: set[asyncio.Task] = set()
        self.answer_files = AnswerFiles()  # a private folder (answer_files.py)

    # -- codeAction/resolve ---------------------------------------------------------------------

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        data = to_plain(action.data)
        if actions.action_of(data) is None:
            return action
        job_id, job = self._start(data)
        budget = self._ls.session.settings.resolve_timeout_ms / 1000.0
        try:
            outcome = await asyncio.wait_for(asyncio.shield(job.task), budget)
        except asyncio.TimeoutError:
            # hand the rest to the command path rather than make the client time out
            action.command = types.Command(
                title=action.title, command=RUN_ACTION, arguments=[{**data, "job": job_id}]
            )
            asyncio.get_running_loop().call_later(UNCLAIMED_S, self._drop, job_id)
            return action
        except asyncio.CancelledError:
            job.task.cancel()  # the client cancelled the resolve request
            self._jobs.pop(job_id, None)
            raise
        self._jobs.pop(job_id, None)
        if outcome.problem or outcome.warning:
            self._show(
                types.MessageType.Warning,
                f"{outcome.action.title}: {outcome.problem or outcome.warning}",
            )
        return actions.fill(action, outcome)

    # -- workspace/executeCommand ossSidecar.runAction -------------------------------------------

    def execute(self, arguments: Any) -> None:
        """Start (or take over) the job and return at once; the result arrives on its own."""
        args = to_plain(list(arguments or []))
        data = args[0] if args else None
        spec = actions.action_of(data)
        if spec is None:
            self._show(types.MessageType.Error, f"{RUN_ACTION}: unknown action {data!r}")
            return
        job = self._jobs.pop(str(data.get("job")), None) if data.get("job") else None
        if spec.edit != "none" and not self._can_apply():
            # no model run for an edit the editor cannot take: say so at once
            if job is not None:
                job.task.cancel()
            self._cannot_apply(spec)
            return
        if job is None:
            _, job = self._start(data, keep=False)
        task = asyncio.ensure_future(self._finish(spec, job))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- internals ------------------------------------------------------------------------------

    def _start(self, data: dict, keep: bool = True) -> tuple[str, _Job]:
        job_id = uuid.uuid4().hex
        progress = _Progress()
        task = asyncio.ensure_future(
            actions.run(
                self._ls.session,
                self._ls.workspace,
                self._ls.client_capabilities,
                data,
                on_piece=progress.piece,
            )
        )
        job = _Job(task, progress)
        if keep:
            self._jobs[job_id] = job
        return job_id, job

    def _drop(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None and not job.task.done():
            job.task.cancel()

    async def _finish(self, spec: actions.Action, job: _Job) -> None:
        token = await self._begin_progress(spec, job)
        try:
            outcome = await job.task
        except asyncio.CancelledError:
            self._end_progress(token, "cancelled")
            return
        except Exception as exc:  # a bug must reach the user, not vanish in a background task
            log.exception("%s failed", spec.title)
            self._end_progress(token, "failed")
            self._show(types.MessageType.Error, f"{spec.title} failed: {exc}")
            return
        self._end_progress(token, "done" if not outcome.problem else outcome.problem)
        if outcome.problem:
            self._show(types.MessageType.Warning, f"{spec.title}: {outcome.problem}")
        elif outcome.edit is not None:
            if await self._apply(spec, outcome.edit) and outcome.warning:
                self._show(types.MessageType.Warning, f"{spec.title}: {outcome.warning}")
        elif outcome.markdown is not None:
            await self._present(spec, outcome.markdown)

    def _can_apply(self) -> bool:
        return _capability(self._ls.client_capabilities, "workspace", "apply_edit")

    def _cannot_apply(self, spec: actions.Action) -> None:
        # an Error: editors such as Vim's ALE show no Warning, and the action would seem to do
        # nothing at all
        self._show(
            types.MessageType.Error,
            f"{spec.title}: nothing was changed: this editor does not accept edits from a "
            "language server (its LSP client does not declare workspace.applyEdit)",
        )

    async def _apply(self, spec: actions.Action, edit: types.WorkspaceEdit) -> bool:
        """Whether the editor applied the edit; when not, the user is told why."""
        if not self._can_apply():
            self._cannot_apply(spec)
            return False
        result = await self._ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=spec.title)
        )
        if not result.applied:
            reason = result.failure_reason or "the document changed meanwhile"
            self._show(types.MessageType.Warning, f"{spec.title}: the edit was not applied ({reason})")
        return bool(result.applied)

    async def _present(self, spec: actions.Action, markdown: str) -> None:
        title = spec.title.removeprefix("AI: ")
        if _capability(self._ls.client_capabilities, "window", "show_document", "support"):
            path = self.answer_files.write(title, markdown)
            shown = await self._ls.window_show_document_async(
                types.ShowDocumentParams(uri=path.as_uri(), take_focus=False)
            )
            if shown.success:
                return
        self._show(types.MessageType.Info, f"{title}\n\n{markdown}")

    async def _begin_progress(self, spec: actions.Action, job: _Job) -> str | None:
        if not _capability(self._ls.client_capabilities, "window", "work_done_progress"):
            return None
        token = f"ossSidecar-action-{uuid.uuid4().hex}"
        progress = self._ls.work_done_progress
        try:
            # a client that never answers must not hold the action up
            await asyncio.wait_for(progress.create_async(token), CREATE_PROGRESS_S)
        except asyncio.TimeoutError:
            log.warning("no answer to window/workDoneProgress/create: running without progress")
            return None
        except Exception:
            log.warning("the client refused a progress token", exc_info=True)
            return None
        # window/workDoneProgress/cancel cancels this future (pygls); it cancels the job
        cancelled = progress.tokens.get(token)
        if cancelled is not None:
            cancelled.add_done_callback(lambda f: f.cancelled() and job.task.cancel())
        progress.begin(
            token, types.WorkDoneProgressBegin(title=spec.title, cancellable=True, message="asking the model")
        )
        job.progress.attach(progress, token)
        return token

    def _end_progress(self, token: str | None, message: str) -> None:
        if token is None:
            return
        progress = self._ls.work_done_progress
        progress.end(token, types.WorkDoneProgressEnd(message=message))
        progress.tokens.pop(token, None)

    def _show(self, kind: types.MessageType, message: str) -> None:
        self._ls.window_show_message(types.ShowMessageParams(type=kind, message=message))


class _Progress:
    """Reports how much of the answer has arrived, at most every PROGRESS_EVERY_S."""

    def __init__(self) -> None:
        self._progress = None
        self._token: str | None = None
        self._pieces = 0
        self._last = 0.0

    def attach(self, progress, token: str) -> None:
        self._progress, self._token = progress, token

    def piece(self, _text: str) -> None:
        self._pieces += 1
        if self._progress is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self._progress.report(
                self._token, types.WorkDoneProgressReport(message=f"{self._pieces} tokens")
            )


def _capability(capabilities: Any, *path: str) -> bool:
    value = capabilities
    for name in path:
        value = getattr(value, name, None)
        if value is None:
            return False
    return bool(value)

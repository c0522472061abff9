// The "Ask AI…" command: pick a preset or type a question about the selection, then
// stream the server's answer (ossSidecar/ask) into the side panel.
import * as vscode from "vscode";

import { mergeAnswer, PRESETS, questionFor } from "./answer";
import { AskPanel } from "./askPanel";
import { SidecarClient } from "./client";
import { ActionData } from "./protocol";

interface QuestionItem extends vscode.QuickPickItem {
  question: string;
}

/** A preset, or the typed text as the first item. Resolves undefined when dismissed. */
function pickQuestion(): Promise<string | undefined> {
  const presets: QuestionItem[] = PRESETS.map((p) => ({ label: p.label, detail: p.question, question: p.question }));
  const pick = vscode.window.createQuickPick<QuestionItem>();
  pick.title = "Ask AI about the selection";
  pick.placeholder = "Type a question, or pick Explain / Fix / Refactor / Add docstring / Write tests";
  pick.items = presets;
  pick.matchOnDetail = false;
  pick.onDidChangeValue((value) => {
    const typed = value.trim();
    pick.items = typed
      ? [{ label: `$(comment) ${typed}`, question: questionFor(typed), alwaysShow: true }, ...presets]
      : presets;
  });
  return new Promise((resolve) => {
    let done = false;
    pick.onDidAccept(() => {
      done = true;
      const chosen = pick.selectedItems[0] ?? pick.activeItems[0];
      resolve(chosen?.question ?? (questionFor(pick.value) || undefined));
      pick.hide();
    });
    pick.onDidHide(() => {
      if (!done) {
        resolve(undefined);
      }
      pick.dispose();
    });
    pick.show();
  });
}

export async function askCommand(
  extensionUri: vscode.Uri,
  client: SidecarClient,
  showProblem: () => Promise<void>,
  noAnswer: () => string,
): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined || editor.selection.isEmpty) {
    void vscode.window.showInformationMessage("oss-sidecar: select some code first, then Ask AI.");
    return;
  }
  if (!client.running) {
    await showProblem();
    return;
  }
  const document = editor.document;
  const range = new vscode.Range(editor.selection.start, editor.selection.end);
  const question = await pickQuestion();
  if (!question) {
    return;
  }
  await answerInPanel(extensionUri, client, document, range, question, noAnswer);
}

/** Streams the server's answer about `range` into the Ask AI panel (Stop cancels it). */
export async function answerInPanel(
  extensionUri: vscode.Uri,
  client: SidecarClient,
  document: vscode.TextDocument,
  range: vscode.Range,
  question: string,
  noAnswer: () => string,
): Promise<void> {
  const panel = AskPanel.show(extensionUri);
  const token = await panel.begin(question, { uri: document.uri, range });
  try {
    const final = await client.ask({ document, range, question }, (piece) => panel.append(piece), token);
    const answer = mergeAnswer(panel.text, final);
    const note = token.isCancellationRequested
      ? "Stopped."
      : answer.trim() === ""
        ? noAnswer() // the status the server reported on the way: key refused or gateway down
        : undefined;
    panel.finish(answer, note);
  } catch (error) {
    if (token.isCancellationRequested) {
      panel.finish(panel.text, "Stopped.");
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    panel.finish(panel.text, `Failed: ${message}`);
  }
}

/**
 * The light bulb's "AI: Explain" in VS Code: the same streamed answer in the same panel as
 * Ask AI's Explain, rather than the server's own presentation of an action's answer (a
 * Markdown file opened when the whole answer is in).
 */
export async function explainAction(
  extensionUri: vscode.Uri,
  client: SidecarClient,
  data: ActionData,
  noAnswer: () => string,
): Promise<void> {
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(data.uri));
  const { start, end } = data.range;
  const range = new vscode.Range(start.line, start.character, end.line, end.character);
  await answerInPanel(extensionUri, client, document, range, questionFor("Explain"), noAnswer);
}

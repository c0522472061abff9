// The Ask AI side panel: a webview that shows one streamed answer as safe Markdown,
// with Insert / Replace selection / Copy on each code block and a Stop button.
import * as vscode from "vscode";

import { CodeBlock, renderMarkdown } from "./markdown";
import { nonce } from "./webview";

/** The editor text an answer's code blocks go back into. */
export interface Target {
  uri: vscode.Uri;
  range: vscode.Range;
}

type FromWebview =
  | { type: "ready" }
  | { type: "stop" }
  | { type: "insert" | "replace" | "copy"; index: number };

const RENDER_INTERVAL_MS = 60;

export class AskPanel implements vscode.Disposable {
  private static current: AskPanel | undefined;

  private answer = "";
  private blocks: CodeBlock[] = [];
  private target: Target | undefined;
  private cancel: vscode.CancellationTokenSource | undefined;
  private renderTimer: NodeJS.Timeout | undefined;
  private ready: Promise<void>;
  private disposables: vscode.Disposable[] = [];

  /** Reuses the open panel (cancelling its running answer) or opens one beside the editor. */
  static show(extensionUri: vscode.Uri): AskPanel {
    if (AskPanel.current) {
      AskPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return AskPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      "ossSidecar.ask",
      "Ask AI",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, "media")],
      },
    );
    AskPanel.current = new AskPanel(panel, extensionUri);
    return AskPanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
  ) {
    const webview = panel.webview;
    const media = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", file));
    const n = nonce();
    let resolveReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (resolveReady = resolve));
    webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; font-src ${webview.cspSource}; script-src 'nonce-${n}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${media("ask.css").toString()}">
<title>Ask AI</title></head>
<body>
<header><div id="question"></div><button type="button" id="stop" hidden>Stop</button></header>
<div id="status" role="status"></div>
<main id="answer"></main>
<script nonce="${n}" src="${media("ask.js").toString()}"></script>
</body></html>`;
    this.disposables.push(
      webview.onDidReceiveMessage((message: FromWebview) => {
        if (message.type === "ready") {
          resolveReady();
        } else {
          void this.onMessage(message);
        }
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** Starts a new answer; returns the token that the Stop button and closing the panel cancel. */
  async begin(question: string, target: Target): Promise<vscode.CancellationToken> {
    this.cancel?.cancel();
    this.cancel?.dispose();
    this.cancel = new vscode.CancellationTokenSource();
    this.answer = "";
    this.blocks = [];
    this.target = target;
    await this.ready;
    await this.panel.webview.postMessage({ type: "start", question });
    return this.cancel.token;
  }

  /** One more streamed piece; rendering is throttled. */
  append(piece: string): void {
    this.answer += piece;
    if (this.renderTimer === undefined) {
      this.renderTimer = setTimeout(() => {
        this.renderTimer = undefined;
        this.render(false);
      }, RENDER_INTERVAL_MS);
    }
  }

  get text(): string {
    return this.answer;
  }

  /** The answer is complete (or failed, or was stopped). */
  finish(answer: string, note?: string): void {
    this.answer = answer;
    if (this.renderTimer !== undefined) {
      clearTimeout(this.renderTimer);
      this.renderTimer = undefined;
    }
    this.render(true, note);
  }

  private render(done: boolean, note?: string): void {
    const { html, blocks } = renderMarkdown(this.answer);
    this.blocks = blocks;
    void this.panel.webview.postMessage({ type: "render", html, done, note });
  }

  private async onMessage(message: FromWebview): Promise<void> {
    if (message.type === "stop") {
      this.cancel?.cancel();
      return;
    }
    if (message.type === "ready") {
      return;
    }
    const block = this.blocks[message.index];
    if (block === undefined) {
      return;
    }
    if (message.type === "copy") {
      await vscode.env.clipboard.writeText(block.code);
      void vscode.window.setStatusBarMessage("oss-sidecar: code copied", 2000);
      return;
    }
    await this.edit(message.type, block.code);
  }

  private async edit(kind: "insert" | "replace", code: string): Promise<void> {
    const target = this.target;
    if (target === undefined) {
      return;
    }
    const document = await vscode.workspace.openTextDocument(target.uri);
    const editor = await vscode.window.showTextDocument(document, {
      viewColumn: vscode.window.visibleTextEditors.find((e) => e.document === document)?.viewColumn,
      preserveFocus: false,
    });
    const text = code.replace(/\n$/, "");
    const ok = await editor.edit((builder) => {
      if (kind === "replace") {
        builder.replace(target.range, text);
      } else {
        builder.insert(editor.selection.active, text);
      }
    });
    if (!ok) {
      void vscode.window.showWarningMessage("oss-sidecar: the editor did not accept the edit (the file changed?).");
    }
  }

  dispose(): void {
    this.cancel?.cancel();
    this.cancel?.dispose();
    this.cancel = undefined;
    if (this.renderTimer !== undefined) {
      clearTimeout(this.renderTimer);
    }
    if (AskPanel.current === this) {
      AskPanel.current = undefined;
      this.panel.dispose();
    }
    this.disposables.forEach((d) => d.dispose());
    this.disposables = [];
  }
}

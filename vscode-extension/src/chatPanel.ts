// The chat panel: the gateway's own chat page (`GET /`) in an iframe inside a webview.
// asExternalUri maps a localhost port when VS Code runs remotely (SSH, containers,
// Codespaces); the CSP allows framing that one origin and nothing else.
import * as vscode from "vscode";

import { escapeHtml } from "./markdown";
import { nonce } from "./webview";

export class ChatPanel {
  private static current: vscode.WebviewPanel | undefined;

  static async show(gatewayUrl: string): Promise<void> {
    const external = await vscode.env.asExternalUri(vscode.Uri.parse(`${gatewayUrl}/`));
    const url = external.toString(true);
    const origin = `${external.scheme}://${external.authority}`;
    let panel = ChatPanel.current;
    if (panel === undefined) {
      panel = vscode.window.createWebviewPanel(
        "ossSidecar.chat",
        "oss-sidecar chat",
        vscode.ViewColumn.Beside,
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] },
      );
      ChatPanel.current = panel;
      panel.onDidDispose(() => (ChatPanel.current = undefined));
      panel.webview.onDidReceiveMessage((message: { type?: string; url?: string }) => {
        if (message.type === "openExternal" && typeof message.url === "string") {
          void vscode.env.openExternal(vscode.Uri.parse(message.url));
        }
      });
    } else {
      panel.reveal(vscode.ViewColumn.Beside);
    }
    const n = nonce();
    const safeUrl = escapeHtml(url);
    panel.webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; frame-src ${escapeHtml(origin)}; style-src 'nonce-${n}'; script-src 'nonce-${n}';">
<style nonce="${n}">
html, body { height: 100%; margin: 0; padding: 0; overflow: hidden; }
body { display: flex; flex-direction: column; font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
.bar { display: flex; gap: 8px; align-items: center; padding: 4px 8px; font-size: 0.9em; color: var(--vscode-descriptionForeground); }
.bar span { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: none; padding: 2px 8px; cursor: pointer; }
iframe { flex: 1; border: none; width: 100%; background: var(--vscode-editor-background); }
</style><title>oss-sidecar chat</title></head>
<body>
<div class="bar"><span>${safeUrl}</span><button type="button" id="open">Open in browser</button></div>
<iframe src="${safeUrl}" title="oss-sidecar chat" sandbox="allow-scripts allow-same-origin allow-forms allow-popups" allow="clipboard-read; clipboard-write"></iframe>
<script nonce="${n}">
const vscode = acquireVsCodeApi();
document.getElementById("open").addEventListener("click", () => vscode.postMessage({ type: "openExternal", url: ${JSON.stringify(url).replace(/</g, "\\u003c")} }));
</script>
</body></html>`;
  }

  static async openInBrowser(gatewayUrl: string): Promise<void> {
    const external = await vscode.env.asExternalUri(vscode.Uri.parse(`${gatewayUrl}/`));
    await vscode.env.openExternal(external);
  }
}

// Entry point: wires the language client, the status bar, the panels and the commands.
// No model logic lives in the extension; `oss-sidecar lsp` does the work.
import * as vscode from "vscode";

import { askCommand, explainAction } from "./ask";
import { AskPanel } from "./askPanel";
import { ChatPanel } from "./chatPanel";
import { MarkdownArgs, SidecarClient } from "./client";
import { watchGateway } from "./health";
import { ActionData } from "./protocol";
import { RESTART_KEYS, SECTION, normalizeGatewayUrl } from "./settings";
import { noAnswerNote } from "./status";
import { StatusBar } from "./statusBar";

let client: SidecarClient | undefined;

function gatewayUrl(): string {
  return normalizeGatewayUrl(vscode.workspace.getConfiguration(SECTION).get<string>("gatewayUrl")).url;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("oss-sidecar", { log: true });
  const config = () => vscode.workspace.getConfiguration(SECTION);
  const statusBar = new StatusBar(config().get<boolean>("inlineCompletion.enabled", true), output, context.extensionUri);

  const showMarkdown = (args: MarkdownArgs) => {
    const panel = AskPanel.show(context.extensionUri);
    const title = args.title ?? "oss-sidecar";
    const range = vscode.window.activeTextEditor?.selection ?? new vscode.Range(0, 0, 0, 0);
    const uri = vscode.window.activeTextEditor?.document.uri;
    void panel
      .begin(title, { uri: uri ?? vscode.Uri.parse("untitled:oss-sidecar"), range })
      .then(() => panel.finish(args.markdown ?? ""));
  };
  const noAnswer = () => noAnswerNote(statusBar.current);
  const explain = (data: ActionData) => void explainAction(context.extensionUri, sidecar, data, noAnswer);
  client = new SidecarClient(context, output, (event) => statusBar.dispatch(event), showMarkdown, explain);
  const sidecar = client;
  const problem = () => statusBar.showNotice();

  context.subscriptions.push(
    output,
    statusBar,
    sidecar,
    watchGateway(gatewayUrl, () => sidecar.apiKey(), (event) => statusBar.dispatch(event)),
    vscode.commands.registerCommand("ossSidecar.ask", () => askCommand(context.extensionUri, sidecar, problem, noAnswer)),
    vscode.commands.registerCommand("ossSidecar.toggleInlineCompletion", async () => {
      const enabled = !config().get<boolean>("inlineCompletion.enabled", true);
      await config().update("inlineCompletion.enabled", enabled, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand("ossSidecar.openChat", () => ChatPanel.show(gatewayUrl())),
    vscode.commands.registerCommand("ossSidecar.openChatInBrowser", () => ChatPanel.openInBrowser(gatewayUrl())),
    vscode.commands.registerCommand("ossSidecar.setApiKey", async () => {
      const value = await vscode.window.showInputBox({
        title: "oss-sidecar gateway API key",
        prompt: "Stored in VS Code's secret storage, not in settings. Leave empty to remove it.",
        password: true,
        ignoreFocusOut: true,
      });
      if (value !== undefined) {
        await sidecar.setApiKey(value.trim() || undefined);
      }
    }),
    vscode.commands.registerCommand("ossSidecar.clearApiKey", () => sidecar.setApiKey(undefined)),
    vscode.commands.registerCommand("ossSidecar.restartServer", () => sidecar.restart()),
    vscode.commands.registerCommand("ossSidecar.showOutput", () => output.show(true)),
    sidecar.onApiKeyChange(() => void sidecar.pushConfiguration()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) {
        return;
      }
      if (e.affectsConfiguration(`${SECTION}.inlineCompletion.enabled`)) {
        statusBar.dispatch({ type: "inline", enabled: config().get<boolean>("inlineCompletion.enabled", true) });
      }
      const gatewayField = `${SECTION}.gatewayUrl`;
      if (e.affectsConfiguration(gatewayField)) {
        const { error } = normalizeGatewayUrl(config().get<string>("gatewayUrl"));
        if (error) {
          void vscode.window.showWarningMessage(`oss-sidecar: ${error}; using the default gateway URL.`);
        }
      }
      if (RESTART_KEYS.some((key) => e.affectsConfiguration(`${SECTION}.${key}`))) {
        void sidecar.restart();
      } else {
        void sidecar.pushConfiguration();
      }
    }),
  );

  await sidecar.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

// Draws the status state machine (status.ts) in the status bar and shows each help
// message once, when its state is entered.
import * as vscode from "vscode";

import { HELP_README } from "./links";
import { Event, initialState, keyRefused, noticeFor, reduce, State, view } from "./status";

/** The same help message is not repeated sooner than this (a gateway that comes and goes). */
const NOTICE_QUIET_MS = 10 * 60 * 1000;

export class StatusBar implements vscode.Disposable {
  private state: State;
  private readonly lastNotice = new Map<string, number>();
  private readonly item: vscode.StatusBarItem;

  constructor(
    inlineEnabled: boolean,
    private readonly output: vscode.LogOutputChannel,
    private readonly extensionUri: vscode.Uri,
  ) {
    this.state = initialState(inlineEnabled);
    this.item = vscode.window.createStatusBarItem("ossSidecar.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "oss-sidecar";
    this.item.command = "ossSidecar.toggleInlineCompletion";
    this.draw();
    this.item.show();
  }

  get current(): State {
    return this.state;
  }

  dispatch(event: Event): void {
    const previous = this.state;
    this.state = reduce(previous, event);
    this.draw();
    const notice = noticeFor(previous, this.state);
    const now = Date.now();
    if (notice !== undefined && now - (this.lastNotice.get(notice) ?? -Infinity) > NOTICE_QUIET_MS) {
      this.lastNotice.set(notice, now);
      void this.showNotice(notice);
    }
  }

  private draw(): void {
    const v = view(this.state);
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.accessibilityInformation = { label: v.spoken };
    this.item.backgroundColor =
      v.severity === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : v.severity === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
  }

  /** The message for the current problem state, with the buttons that fix it. */
  async showNotice(notice: "notInstalled" | "unreachable" | "failed" = this.noticeKind()): Promise<void> {
    const detail = this.state.message ? ` (${this.state.message})` : "";
    let text: string;
    const buttons: string[] = [];
    if (notice === "notInstalled") {
      text = `oss-sidecar is not installed or not on PATH${detail}. Install it (pip install . in the oss-sidecar source folder) or set "ossSidecar.server.path".`;
      buttons.push("How to install", "Open settings");
    } else if (notice === "unreachable" && keyRefused(this.state)) {
      text = `oss-sidecar: the gateway refused the API key${detail}. Set the gateway's key with "oss-sidecar: Set gateway API key".`;
      buttons.push("Set API key", "Open settings");
    } else if (notice === "unreachable") {
      text = `oss-sidecar: the gateway is unreachable${detail}. Start it with "oss-sidecar serve" or fix "ossSidecar.gatewayUrl".`;
      buttons.push("How to fix", "Open settings");
    } else {
      text = `oss-sidecar: the language server failed${detail}.`;
      buttons.push("Show log", "How to fix", "Restart");
    }
    const choice = await vscode.window.showWarningMessage(text, ...buttons);
    if (choice === "How to install" || choice === "How to fix") {
      await vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.joinPath(this.extensionUri, HELP_README));
    } else if (choice === "Set API key") {
      await vscode.commands.executeCommand("ossSidecar.setApiKey");
    } else if (choice === "Open settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "ossSidecar");
    } else if (choice === "Show log") {
      this.output.show(true);
    } else if (choice === "Restart") {
      await vscode.commands.executeCommand("ossSidecar.restartServer");
    }
  }

  private noticeKind(): "notInstalled" | "unreachable" | "failed" {
    const phase = this.state.phase;
    return phase === "notInstalled" || phase === "unreachable" ? phase : "failed";
  }

  dispose(): void {
    this.item.dispose();
  }
}

// Starts `oss-sidecar lsp` over stdio through vscode-languageclient and exposes the
// few things the UI needs: live settings, the ask request, status notifications.
// The server owns all model logic; inline completion and code actions are standard
// LSP features that vscode-languageclient (>= 10, LSP 3.18) wires up by itself.
import * as vscode from "vscode";
import {
  CancellationToken,
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ProgressType,
  State as ClientState,
} from "vscode-languageclient/node";

import { findExecutable } from "./executable";
import {
  ActionData,
  ASK,
  AskParams as AskRequestParams,
  AskPartialResult,
  AskResult,
  experimentalCapabilities,
  RUN_ACTION,
  SHOW_MARKDOWN,
  ShowMarkdownArgs,
  STATUS,
  StatusParams,
} from "./protocol";
import { SECTION, ServerOptions, serverCommand, toDidChangeConfiguration, toServerOptions } from "./settings";
import { Event } from "./status";

const API_KEY_SECRET = "ossSidecar.apiKey";

export type MarkdownArgs = ShowMarkdownArgs;

export interface AskParams {
  document: vscode.TextDocument;
  range: vscode.Range;
  question: string;
}

export class SidecarClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private subscriptions: vscode.Disposable[] = [];
  private showMarkdownCommand: vscode.Disposable | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly dispatch: (event: Event) => void,
    private readonly showMarkdown: (args: MarkdownArgs) => void,
    private readonly explain: (data: ActionData) => void,
  ) {}

  get running(): boolean {
    return this.client?.state === ClientState.Running;
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  async serverOptions(): Promise<ServerOptions> {
    const apiKey = await this.context.secrets.get(API_KEY_SECRET);
    return toServerOptions(this.config(), apiKey);
  }

  apiKey(): Thenable<string | undefined> {
    return this.context.secrets.get(API_KEY_SECRET);
  }

  async setApiKey(value: string | undefined): Promise<void> {
    if (value) {
      await this.context.secrets.store(API_KEY_SECRET, value);
    } else {
      await this.context.secrets.delete(API_KEY_SECRET);
    }
  }

  onApiKeyChange(listener: () => void): vscode.Disposable {
    return this.context.secrets.onDidChange((e) => {
      if (e.key === API_KEY_SECRET) {
        listener();
      }
    });
  }

  async start(): Promise<void> {
    const { command, args } = serverCommand(this.config());
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const resolved = findExecutable(command, process.env, process.platform, folder ?? process.cwd());
    if (resolved === null) {
      this.output.appendLine(`oss-sidecar: "${command}" was not found (PATH=${process.env.PATH ?? ""})`);
      this.dispatch({ type: "notInstalled", command });
      return;
    }
    this.dispatch({ type: "starting" });
    this.output.appendLine(`oss-sidecar: starting ${resolved} ${args.join(" ")}`);

    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: await this.serverOptions(),
      outputChannel: this.output,
      middleware: {
        // Ghost text off means no request at all, not only an empty answer.
        provideInlineCompletionItems: (document, position, context, token, next) =>
          this.config().get<boolean>("inlineCompletion.enabled", true) ? next(document, position, context, token) : null,
        // VS Code keeps a command that codeAction/resolve answers with only while the light
        // bulb's list of actions lives; once the menu has closed (the list released) it drops the
        // command without a word. The server answers a resolve slower than resolveTimeoutMs
        // with ossSidecar.runAction, its job going on in the background: run that here, now.
        resolveCodeAction: async (item, token, next) => {
          const data = (item as { data?: ActionData }).data;
          if (data?.id === "explain") {
            this.explain(data); // streamed into the Ask AI panel (extension.ts): nothing to apply
            return item;
          }
          const resolved = await next(item, token);
          const command = resolved?.command;
          if (resolved && command?.command === RUN_ACTION) {
            resolved.command = undefined;
            void vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
          }
          return resolved;
        },
        // When the server advertises ossSidecar.showMarkdown, vscode-languageclient owns the
        // command id; show the text here instead of sending it back to the server.
        executeCommand: (command, args, next) => {
          const data = args?.[0] as ActionData | undefined;
          if (command === RUN_ACTION && data?.id === "explain" && data.job === undefined) {
            this.explain(data); // streamed into the Ask AI panel (extension.ts)
            return undefined;
          }
          if (command === SHOW_MARKDOWN) {
            this.showMarkdown((args?.[0] ?? {}) as MarkdownArgs);
            return undefined;
          }
          return next(command, args);
        },
      },
      initializationFailedHandler: (error) => {
        this.dispatch({ type: "failed", message: String(error instanceof Error ? error.message : error) });
        return false;
      },
    };
    const client = new LanguageClient(
      "ossSidecar",
      "oss-sidecar",
      { command: resolved, args, options: { cwd: folder, env: process.env } },
      clientOptions,
    );
    // Opt in to ossSidecar/status: the server sends it only to clients that say they show it.
    client.registerFeature({
      fillClientCapabilities: (capabilities) => {
        capabilities.experimental = { ...(capabilities.experimental as object | undefined), ...experimentalCapabilities() };
      },
      initialize: () => undefined,
      getState: () => ({ kind: "static" }),
      clear: () => undefined,
    });
    this.client = client;
    this.subscriptions.push(
      client.onDidChangeState((e) => {
        if (this.client !== client) {
          return;
        }
        if (e.newState === ClientState.Stopped) {
          this.dispatch({ type: "failed", message: "the language server stopped; see the log" });
        } else if (e.newState === ClientState.Running && e.oldState !== ClientState.Running) {
          this.dispatch({ type: "started" }); // also after an automatic restart
        }
      }),
      client.onNotification(STATUS, (params: StatusParams) =>
        this.dispatch({ type: "server", state: String(params?.state), message: params?.message }),
      ),
    );
    try {
      await client.start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.appendLine(`oss-sidecar: the language server did not start: ${message}`);
      this.dispatch({ type: "failed", message });
      return;
    }
    this.registerShowMarkdownFallback(client);
    this.dispatch({ type: "started" });
  }

  /** Registers ossSidecar.showMarkdown ourselves only when the server did not claim it. */
  private registerShowMarkdownFallback(client: LanguageClient): void {
    const claimed = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (!claimed.includes(SHOW_MARKDOWN) && this.showMarkdownCommand === undefined) {
      this.showMarkdownCommand = vscode.commands.registerCommand(SHOW_MARKDOWN, (args: MarkdownArgs) =>
        this.showMarkdown(args ?? {}),
      );
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.subscriptions.forEach((d) => d.dispose());
    this.subscriptions = [];
    this.showMarkdownCommand?.dispose();
    this.showMarkdownCommand = undefined;
    if (client !== undefined) {
      try {
        await client.stop(2000);
      } catch (error) {
        this.output.appendLine(`oss-sidecar: stopping the server: ${String(error)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Applies changed settings without a restart (workspace/didChangeConfiguration). */
  async pushConfiguration(): Promise<void> {
    if (!this.running || this.client === undefined) {
      return;
    }
    const options = await this.serverOptions();
    await this.client.sendNotification(DidChangeConfigurationNotification.type, toDidChangeConfiguration(options));
  }

  /**
   * `ossSidecar/ask`: answer pieces arrive as `$/progress` on a partial result token and
   * go to `onPiece`; cancelling `token` sends `$/cancelRequest`, which the server passes on
   * down to the engine.
   */
  async ask(params: AskParams, onPiece: (markdown: string) => void, token: CancellationToken): Promise<string> {
    const client = this.client;
    if (client === undefined || !this.running) {
      throw new Error("the oss-sidecar language server is not running");
    }
    const partialResultToken = `ossSidecar-ask-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const progress = client.onProgress(new ProgressType<AskPartialResult>(), partialResultToken, (value) => {
      if (typeof value?.markdown === "string") {
        onPiece(value.markdown);
      }
    });
    try {
      const request: AskRequestParams = {
        textDocument: { uri: client.code2ProtocolConverter.asUri(params.document.uri) },
        range: client.code2ProtocolConverter.asRange(params.range),
        question: params.question,
        partialResultToken,
      };
      const result = await client.sendRequest<AskResult | null>(ASK, request, token);
      return result?.markdown ?? "";
    } finally {
      progress.dispose();
    }
  }

  dispose(): void {
    void this.stop();
  }
}

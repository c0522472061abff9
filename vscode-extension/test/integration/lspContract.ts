// The extension's side of the language-server contract (docs/PROTOCOL.md), run against a real
// `oss-sidecar lsp` and a real gateway: the same settings mapping (src/settings.ts), the same
// requests and the same transport (vscode-jsonrpc, under vscode-languageclient) as the
// extension. Not part of `npm test` (it needs Python and a gateway): tests/e2e/test_plugins.py
// runs it with OSS_SIDECAR_GATEWAY (the gateway URL) and OSS_SIDECAR_PYTHON (the interpreter).
// It also checks that src/protocol.ts declares the server's own protocol exactly as
// lsp/protocol.py does (`python -m lsp.protocol`).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as path from "node:path";
import {
  CancellationTokenSource,
  CodeActionRequest,
  createProtocolConnection,
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  InlineCompletionRequest,
  ProgressType,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageserver-protocol/node";

import { mergeAnswer } from "../../src/answer";
import { ASK, experimentalCapabilities, PROTOCOL, RUN_ACTION, SHOW_MARKDOWN, STATUS } from "../../src/protocol";
import { ConfigReader, serverCommand, toDidChangeConfiguration, toServerOptions } from "../../src/settings";

function config(values: Record<string, unknown>): ConfigReader {
  return { get: <T>(key: string, fallback: T): T => (key in values ? values[key] : fallback) as T };
}

async function withTimeout<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The two declarations of the custom protocol agree: names, capability, field sets. */
function checkProtocolAgrees(python: string): void {
  // out/test/integration/lspContract.js -> the repository root
  const root = path.resolve(__dirname, "..", "..", "..", "..");
  const declared = JSON.parse(execFileSync(python, ["-m", "lsp.protocol"], { cwd: root, encoding: "utf8" })) as unknown;
  assert.deepStrictEqual(JSON.parse(JSON.stringify(PROTOCOL)), declared, "src/protocol.ts and lsp/protocol.py differ");
}

async function main(): Promise<void> {
  const gatewayUrl = process.env.OSS_SIDECAR_GATEWAY ?? "http://127.0.0.1:8000";
  checkProtocolAgrees(process.env.OSS_SIDECAR_PYTHON || "python3");
  const settings = config({
    gatewayUrl: `${gatewayUrl}/v1/`, // pasted the way other plugins want it; normalized
    maxTokens: 16,
    "ask.maxTokens": 48,
    debounceMs: 0,
    "server.pythonPath": process.env.OSS_SIDECAR_PYTHON ?? "",
  });
  const { command, args } = serverCommand(settings);
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const connection = createProtocolConnection(
    new StreamMessageReader(child.stdout),
    new StreamMessageWriter(child.stdin),
  );
  const statuses: string[] = [];
  connection.onNotification(STATUS, (params: { state: string }) => {
    statuses.push(params.state);
  });
  connection.onNotification("window/logMessage", () => undefined);
  connection.onRequest("window/workDoneProgress/create", () => null);
  connection.onRequest("workspace/configuration", () => []);
  connection.onRequest("client/registerCapability", () => null);
  connection.listen();
  const report: Record<string, unknown> = {};

  const init = await withTimeout(
    "initialize",
    30_000,
    connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: {
        textDocument: {
          inlineCompletion: { dynamicRegistration: false },
          codeAction: {
            resolveSupport: { properties: ["edit", "command"] },
            codeActionLiteralSupport: { codeActionKind: { valueSet: ["", "quickfix", "refactor", "refactor.rewrite", "source"] } },
          },
        },
        window: { workDoneProgress: true },
        experimental: experimentalCapabilities(), // as the extension declares it
      },
      initializationOptions: toServerOptions(settings, null),
    }),
  );
  assert.ok(init.capabilities.inlineCompletionProvider, "the server offers textDocument/inlineCompletion");
  assert.ok(init.capabilities.codeActionProvider, "the server offers code actions");
  const commands = init.capabilities.executeCommandProvider?.commands ?? [];
  report.commands = commands;
  assert.ok(commands.includes(SHOW_MARKDOWN) && commands.includes(RUN_ACTION), JSON.stringify(commands));
  // VS Code has inline completion: no duplicate completion items
  assert.equal(init.capabilities.completionProvider, undefined, "no textDocument/completion for VS Code");
  await connection.sendNotification(InitializedNotification.type, {});

  const uri = "file:///tmp/oss_sidecar_contract.py";
  const text = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    \n";
  await connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: "python", version: 1, text },
  });

  // Ghost text: an InlineCompletionList (or item array) comes back.
  const inline = await withTimeout(
    "inlineCompletion",
    60_000,
    connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: { line: 5, character: 4 },
      context: { triggerKind: 2 },
    }),
  );
  const items = Array.isArray(inline) ? inline : (inline?.items ?? []);
  report.inlineItems = items.length;

  // Code actions on a selection, with the titles the extension documents.
  const range = { start: { line: 0, character: 0 }, end: { line: 1, character: 16 } };
  const actions = await connection.sendRequest(CodeActionRequest.type, {
    textDocument: { uri },
    range,
    context: { diagnostics: [] },
  });
  const titles = (actions ?? []).map((a) => a.title);
  report.codeActions = titles;
  for (const title of ["AI: Explain", "AI: Fix", "AI: Refactor", "AI: Add docstring", "AI: Write tests"]) {
    assert.ok(titles.includes(title), `code action ${title} in ${JSON.stringify(titles)}`);
  }

  // Ask AI with partial results, as SidecarClient.ask sends it.
  const token = "contract-ask-1";
  const pieces: string[] = [];
  const progress = connection.onProgress(new ProgressType<{ markdown: string }>(), token, (v) => {
    pieces.push(v.markdown);
  });
  const result = await withTimeout(
    "ossSidecar/ask",
    120_000,
    connection.sendRequest<{ markdown: string }>(ASK, {
      textDocument: { uri },
      range,
      question: "Explain what this code does.",
      partialResultToken: token,
    }),
  );
  progress.dispose();
  const answer = mergeAnswer(pieces.join(""), result?.markdown ?? "");
  report.askPieces = pieces.length;
  report.askChars = answer.length;
  assert.ok(pieces.length > 0, "answer pieces arrive as $/progress");
  assert.ok(answer.trim().length > 0, "a non-empty answer");

  // Stop: cancelling the request token sends $/cancelRequest; the request ends promptly.
  const source = new CancellationTokenSource();
  const token2 = "contract-ask-2";
  let cancelledAfter = -1;
  const started = Date.now();
  const progress2 = connection.onProgress(new ProgressType<{ markdown: string }>(), token2, () => {
    if (cancelledAfter < 0) {
      cancelledAfter = Date.now() - started;
      source.cancel();
    }
  });
  let outcome = "completed";
  try {
    await withTimeout(
      "cancelled ask",
      60_000,
      connection.sendRequest(
        ASK,
        { textDocument: { uri }, range, question: "Write unit tests for this code.", partialResultToken: token2 },
        source.token,
      ),
    );
  } catch (error) {
    outcome = (error as { code?: number }).code === -32800 ? "cancelled" : `error ${String(error)}`;
  }
  progress2.dispose();
  report.cancelOutcome = outcome;
  report.cancelledAfterMs = cancelledAfter;
  assert.ok(outcome === "cancelled" || outcome === "completed", outcome);

  // Settings change without restart: ghost text off -> no items.
  const off = toServerOptions(config({ gatewayUrl, "inlineCompletion.enabled": false }), null);
  await connection.sendNotification(DidChangeConfigurationNotification.type, toDidChangeConfiguration(off));
  const inlineOff = await connection.sendRequest(InlineCompletionRequest.type, {
    textDocument: { uri },
    position: { line: 5, character: 4 },
    context: { triggerKind: 2 },
  });
  const offItems = Array.isArray(inlineOff) ? inlineOff : (inlineOff?.items ?? []);
  assert.equal(offItems.length, 0, "no ghost text after inlineCompletion: false");

  report.statuses = [...new Set(statuses)];
  assert.ok(statuses.includes("ready"), `ossSidecar/status ready in ${JSON.stringify(statuses)}`);

  await connection.sendRequest(ShutdownRequest.type);
  await connection.sendNotification(ExitNotification.type);
  connection.dispose();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);

// VS Code settings -> the language server's initializationOptions (docs/PROTOCOL.md)
// and the command line that starts it. Pure: no `vscode` import, unit-tested.

export const SECTION = "ossSidecar";
export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000";

/** The part of vscode.WorkspaceConfiguration this module reads. */
export interface ConfigReader {
  get<T>(key: string, defaultValue: T): T;
}

/** initializationOptions / didChangeConfiguration settings, as docs/PROTOCOL.md names them. */
export interface ServerOptions {
  gatewayUrl: string;
  apiKey: string | null;
  model: string | null;
  maxTokens: number;
  temperature: number;
  debounceMs: number;
  contextBudgetTokens: number;
  /** Beyond PROTOCOL.md's list: the server's answer limit for ossSidecar/ask (docs/LSP.md). */
  chatMaxTokens: number;
  features: { inlineCompletion: boolean; codeActions: boolean; ask: boolean };
}

export interface ServerCommand {
  command: string;
  args: string[];
}

/** Settings whose change needs the server process restarted (the rest are pushed live). */
export const RESTART_KEYS = ["server.path", "server.pythonPath"];

function clamp(value: unknown, min: number, max: number, fallback: number, integer: boolean): number {
  let n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) {
    return fallback;
  }
  if (integer) {
    n = Math.round(n);
  }
  return Math.min(max, Math.max(min, n));
}

function text(value: unknown): string | null {
  if (typeof value !== "string") {
    return null;
  }
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

/**
 * Accepts what users paste from other plugins' settings: a trailing slash, a `/v1`
 * suffix (the OpenAI base URL), a missing scheme. Anything that is not http(s) falls
 * back to the default and reports why.
 */
export function normalizeGatewayUrl(raw: unknown): { url: string; error?: string } {
  let value = text(raw);
  if (value === null) {
    return { url: DEFAULT_GATEWAY_URL };
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    value = `http://${value}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return { url: DEFAULT_GATEWAY_URL, error: `"${String(raw)}" is not a URL` };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { url: DEFAULT_GATEWAY_URL, error: `"${String(raw)}" is not an http(s) URL` };
  }
  let path = parsed.pathname.replace(/\/+$/, "");
  path = path.replace(/\/v1$/, "");
  return { url: `${parsed.protocol}//${parsed.host}${path}` };
}

export function toServerOptions(config: ConfigReader, apiKey: string | undefined | null): ServerOptions {
  return {
    gatewayUrl: normalizeGatewayUrl(config.get<string>("gatewayUrl", DEFAULT_GATEWAY_URL)).url,
    apiKey: text(apiKey),
    model: text(config.get<string>("model", "")),
    maxTokens: clamp(config.get<number>("maxTokens", 128), 1, 8192, 128, true),
    temperature: clamp(config.get<number>("temperature", 0.2), 0, 2, 0.2, false),
    debounceMs: clamp(config.get<number>("debounceMs", 150), 0, 5000, 150, true),
    contextBudgetTokens: clamp(config.get<number>("contextBudgetTokens", 1024), 64, 32768, 1024, true),
    chatMaxTokens: clamp(config.get<number>("ask.maxTokens", 512), 1, 32768, 512, true),
    features: {
      inlineCompletion: config.get<boolean>("inlineCompletion.enabled", true) !== false,
      codeActions: config.get<boolean>("codeActions.enabled", true) !== false,
      ask: true,
    },
  };
}

/** The didChangeConfiguration params: `settings.ossSidecar` holds the same object as initializationOptions. */
export function toDidChangeConfiguration(options: ServerOptions): { settings: { ossSidecar: ServerOptions } } {
  return { settings: { ossSidecar: options } };
}

/**
 * The command line of `oss-sidecar lsp` (stdio). With a Python interpreter configured,
 * the console script's entry point is called through `-c`, which works whether or not
 * gateway/cli.py can be run with `-m`.
 */
export function serverCommand(config: ConfigReader): ServerCommand {
  const python = text(config.get<string>("server.pythonPath", ""));
  if (python !== null) {
    return {
      command: python,
      args: ["-c", "import sys; from gateway.cli import main; sys.exit(main())", "lsp"],
    };
  }
  return { command: text(config.get<string>("server.path", "oss-sidecar")) ?? "oss-sidecar", args: ["lsp"] };
}

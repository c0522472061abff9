import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ConfigReader,
  DEFAULT_GATEWAY_URL,
  normalizeGatewayUrl,
  serverCommand,
  toDidChangeConfiguration,
  toServerOptions,
} from "../src/settings";

/** A WorkspaceConfiguration stand-in: keys as VS Code passes them (relative to "ossSidecar"). */
function config(values: Record<string, unknown>): ConfigReader {
  return {
    get<T>(key: string, defaultValue: T): T {
      return (key in values ? values[key] : defaultValue) as T;
    },
  };
}

test("defaults map to the documented initializationOptions", () => {
  assert.deepEqual(toServerOptions(config({}), undefined), {
    gatewayUrl: "http://127.0.0.1:8000",
    apiKey: null,
    model: null,
    maxTokens: 128,
    temperature: 0.2,
    debounceMs: 150,
    contextBudgetTokens: 1024,
    chatMaxTokens: 512,
    features: { inlineCompletion: true, codeActions: true, ask: true },
  });
});

test("every setting reaches its protocol key", () => {
  const options = toServerOptions(
    config({
      gatewayUrl: "http://gpu-box:9000",
      model: " qwen2.5-coder-7b ",
      maxTokens: 64,
      temperature: 0.7,
      debounceMs: 300,
      contextBudgetTokens: 2048,
      "ask.maxTokens": 1000,
      "inlineCompletion.enabled": false,
      "codeActions.enabled": false,
    }),
    "sk-local",
  );
  assert.equal(options.gatewayUrl, "http://gpu-box:9000");
  assert.equal(options.apiKey, "sk-local");
  assert.equal(options.model, "qwen2.5-coder-7b");
  assert.equal(options.maxTokens, 64);
  assert.equal(options.temperature, 0.7);
  assert.equal(options.debounceMs, 300);
  assert.equal(options.contextBudgetTokens, 2048);
  assert.equal(options.chatMaxTokens, 1000);
  assert.deepEqual(options.features, { inlineCompletion: false, codeActions: false, ask: true });
});

test("out-of-range and wrong-typed numbers are clamped or defaulted", () => {
  const options = toServerOptions(
    config({ maxTokens: 0, temperature: 9, debounceMs: -5, contextBudgetTokens: "lots", model: "", gatewayUrl: "" }),
    "",
  );
  assert.equal(options.maxTokens, 1);
  assert.equal(options.temperature, 2);
  assert.equal(options.debounceMs, 0);
  assert.equal(options.contextBudgetTokens, 1024);
  assert.equal(options.model, null);
  assert.equal(options.apiKey, null);
  assert.equal(options.gatewayUrl, DEFAULT_GATEWAY_URL);
  assert.equal(toServerOptions(config({ maxTokens: 12.6 }), null).maxTokens, 13);
});

test("gateway URLs pasted from other plugins are normalized", () => {
  assert.equal(normalizeGatewayUrl("http://127.0.0.1:8000/v1").url, "http://127.0.0.1:8000");
  assert.equal(normalizeGatewayUrl("http://127.0.0.1:8000/v1/").url, "http://127.0.0.1:8000");
  assert.equal(normalizeGatewayUrl("http://127.0.0.1:8000/").url, "http://127.0.0.1:8000");
  assert.equal(normalizeGatewayUrl("localhost:8000").url, "http://localhost:8000");
  assert.equal(normalizeGatewayUrl("https://box.lan/sidecar/v1").url, "https://box.lan/sidecar");
  assert.equal(normalizeGatewayUrl(undefined).url, DEFAULT_GATEWAY_URL);
});

test("non-http gateway URLs fall back to the default with a reason", () => {
  for (const bad of ["javascript:alert(1)", "file:///etc/passwd", "ftp://x", "http://"]) {
    const result = normalizeGatewayUrl(bad);
    assert.equal(result.url, DEFAULT_GATEWAY_URL, bad);
    assert.ok(result.error, bad);
  }
});

test("didChangeConfiguration carries the same object under settings.ossSidecar", () => {
  const options = toServerOptions(config({ maxTokens: 32 }), undefined);
  assert.deepEqual(toDidChangeConfiguration(options), { settings: { ossSidecar: options } });
});

test("server command: executable by default, python when configured", () => {
  assert.deepEqual(serverCommand(config({})), { command: "oss-sidecar", args: ["lsp"] });
  assert.deepEqual(serverCommand(config({ "server.path": "/opt/venv/bin/oss-sidecar" })), {
    command: "/opt/venv/bin/oss-sidecar",
    args: ["lsp"],
  });
  assert.deepEqual(serverCommand(config({ "server.path": "  " })), { command: "oss-sidecar", args: ["lsp"] });
  const python = serverCommand(config({ "server.pythonPath": ".venv/bin/python", "server.path": "ignored" }));
  assert.equal(python.command, ".venv/bin/python");
  assert.equal(python.args[0], "-c");
  assert.match(python.args[1], /from gateway\.cli import main/);
  assert.equal(python.args[2], "lsp");
});

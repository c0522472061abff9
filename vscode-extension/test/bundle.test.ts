import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

// The shipped bundle (out/extension.js, built by `npm run build`) loads outside VS Code once
// `vscode` is stubbed: no missing module or top-level error slipped into the bundle.
const bundle = path.resolve(__dirname, "..", "extension.js");

function stub(): unknown {
  const fn = function () {
    return stub();
  };
  return new Proxy(fn, {
    get: (_target, key) => (key === Symbol.toPrimitive ? () => "" : key === "then" ? undefined : stub()),
    apply: () => stub(),
    construct: () => stub() as object,
  });
}

test("out/extension.js loads and exports activate/deactivate", { skip: !fs.existsSync(bundle) && "run npm run build first" }, () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Module = require("node:module") as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = Module._load;
  Module._load = (request: string, ...rest: unknown[]) => (request === "vscode" ? stub() : original(request, ...rest));
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const extension = require(bundle) as { activate?: unknown; deactivate?: unknown };
    assert.equal(typeof extension.activate, "function");
    assert.equal(typeof extension.deactivate, "function");
  } finally {
    Module._load = original;
  }
});

test("package.json commands, menus and settings agree", () => {
  const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, "..", "..", "package.json"), "utf8"));
  const commands = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
  for (const item of manifest.contributes.menus["editor/context"]) {
    assert.ok(commands.has(item.command), item.command);
    assert.equal(item.when, "editorHasSelection");
  }
  const source = fs.readFileSync(path.resolve(__dirname, "..", "..", "src", "extension.ts"), "utf8");
  for (const command of commands) {
    assert.ok(source.includes(`"${String(command)}"`), `${String(command)} is registered in src/extension.ts`);
  }
  const settings = Object.keys(manifest.contributes.configuration.properties);
  for (const key of ["gatewayUrl", "model", "maxTokens", "temperature", "debounceMs", "inlineCompletion.enabled", "server.path", "server.pythonPath"]) {
    assert.ok(settings.includes(`ossSidecar.${key}`), key);
  }
  assert.ok(!settings.some((key) => /apikey/i.test(key)), "the API key is not a setting (SecretStorage)");
});

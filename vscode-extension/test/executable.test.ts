import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

import { findExecutable } from "../src/executable";

function tempBin(): { dir: string; tool: string; plain: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oss-sidecar-bin-"));
  const tool = path.join(dir, "oss-sidecar");
  fs.writeFileSync(tool, "#!/bin/sh\n");
  fs.chmodSync(tool, 0o755);
  const plain = path.join(dir, "not-executable");
  fs.writeFileSync(plain, "");
  fs.chmodSync(plain, 0o644);
  return { dir, tool, plain };
}

test("finds a bare name on PATH", { skip: process.platform === "win32" }, () => {
  const { dir, tool } = tempBin();
  assert.equal(findExecutable("oss-sidecar", { PATH: `/nonexistent:${dir}` }, "linux"), tool);
});

test("a missing name gives null (the 'not installed' message)", () => {
  assert.equal(findExecutable("oss-sidecar-surely-missing", { PATH: "/nonexistent" }, "linux"), null);
  assert.equal(findExecutable("", { PATH: "/usr/bin" }, "linux"), null);
});

test("paths are checked as they are, relative to the workspace", { skip: process.platform === "win32" }, () => {
  const { dir, tool, plain } = tempBin();
  assert.equal(findExecutable(tool, { PATH: "" }, "linux"), tool);
  assert.equal(findExecutable("./oss-sidecar", { PATH: "" }, "linux", dir), tool);
  assert.equal(findExecutable(plain, { PATH: "" }, "linux"), null); // not executable
  assert.equal(findExecutable(dir, { PATH: "" }, "linux"), null); // a directory
});

test("Windows: PATHEXT is tried", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oss-sidecar-win-"));
  const exe = path.join(dir, "oss-sidecar.EXE");
  fs.writeFileSync(exe, "");
  assert.equal(findExecutable("oss-sidecar", { PATH: dir, PATHEXT: ".COM;.EXE" }, "win32"), exe);
});

import assert from "node:assert/strict";
import { test } from "node:test";

import { Event, initialState, keyRefused, noAnswerNote, noticeFor, reduce, State, view } from "../src/status";

function run(events: Event[], inline = true): State {
  return events.reduce(reduce, initialState(inline));
}

test("starts in 'starting' and becomes ready when the server is up", () => {
  assert.equal(initialState(true).phase, "starting");
  assert.equal(run([{ type: "starting" }, { type: "started" }]).phase, "ready");
});

test("server notifications drive ready / thinking / unreachable", () => {
  let s = run([{ type: "started" }]);
  s = reduce(s, { type: "server", state: "thinking" });
  assert.equal(s.phase, "thinking");
  s = reduce(s, { type: "server", state: "ready" });
  assert.equal(s.phase, "ready");
  s = reduce(s, { type: "server", state: "unreachable", message: "connection refused" });
  assert.equal(s.phase, "unreachable");
  assert.equal(s.message, "connection refused");
  s = reduce(s, { type: "server", state: "ready" });
  assert.equal(s.phase, "ready");
  assert.equal(s.message, undefined);
});

test("a notification that arrives before 'started' is kept", () => {
  const s = run([{ type: "starting" }, { type: "server", state: "unreachable" }, { type: "started" }]);
  assert.equal(s.phase, "unreachable");
});

test("unknown server states are ignored", () => {
  const s = run([{ type: "started" }, { type: "server", state: "dancing" }]);
  assert.equal(s.phase, "ready");
});

test("not installed stays until a restart; late notifications do not revive it", () => {
  let s = run([{ type: "notInstalled", command: "oss-sidecar" }]);
  assert.equal(s.phase, "notInstalled");
  assert.match(s.message ?? "", /oss-sidecar/);
  s = reduce(s, { type: "server", state: "ready" });
  assert.equal(s.phase, "notInstalled");
  s = reduce(s, { type: "starting" });
  assert.equal(s.phase, "starting");
});

test("a crash is 'failed' and an automatic restart recovers", () => {
  let s = run([{ type: "started" }, { type: "failed", message: "exit code 1" }]);
  assert.equal(s.phase, "failed");
  s = reduce(s, { type: "started" });
  assert.equal(s.phase, "ready");
});

test("the ghost-text toggle is independent of the phase", () => {
  let s = run([{ type: "started" }, { type: "server", state: "thinking" }]);
  s = reduce(s, { type: "inline", enabled: false });
  assert.equal(s.phase, "thinking");
  assert.equal(s.inlineEnabled, false);
  s = reduce(s, { type: "failed", message: "x" });
  assert.equal(s.inlineEnabled, false);
  s = reduce(s, { type: "starting" });
  assert.equal(s.inlineEnabled, false);
});

test("view: text, tooltip and severity per phase", () => {
  const ready = view(run([{ type: "started" }]));
  assert.match(ready.text, /oss-sidecar/);
  assert.equal(ready.severity, "normal");
  assert.match(ready.tooltip, /click to turn it off/);
  const off = view(run([{ type: "started" }, { type: "inline", enabled: false }]));
  assert.match(off.text, /ghost text off/);
  assert.match(off.tooltip, /click to turn it on/);
  assert.match(view(run([{ type: "started" }, { type: "server", state: "thinking" }])).text, /thinking/);
  const down = view(run([{ type: "started" }, { type: "server", state: "unreachable" }]));
  assert.match(down.text, /gateway unreachable/);
  assert.equal(down.severity, "warning");
  assert.equal(view(run([{ type: "notInstalled", command: "x" }])).severity, "warning");
  assert.equal(view(run([{ type: "failed", message: "boom" }])).severity, "error");
  assert.match(view(run([{ type: "failed", message: "boom" }])).tooltip, /boom/);
});

test("help notices fire once, on entering a problem state", () => {
  const ready = run([{ type: "started" }]);
  const down = reduce(ready, { type: "server", state: "unreachable" });
  assert.equal(noticeFor(ready, down), "unreachable");
  assert.equal(noticeFor(down, reduce(down, { type: "server", state: "unreachable" })), undefined);
  assert.equal(noticeFor(down, reduce(down, { type: "server", state: "ready" })), undefined);
  assert.equal(noticeFor(initialState(true), run([{ type: "notInstalled", command: "x" }])), "notInstalled");
  assert.equal(noticeFor(ready, reduce(ready, { type: "failed", message: "x" })), "failed");
  assert.equal(noticeFor(ready, reduce(ready, { type: "server", state: "thinking" })), undefined);
});

test("a gateway that refuses the key is labelled so, not as unreachable", () => {
  const refused = run([
    { type: "started" },
    { type: "server", state: "unreachable", message: "gateway refused the request (401): missing or invalid API key" },
  ]);
  assert.ok(keyRefused(refused));
  assert.match(view(refused).text, /API key refused/);
  assert.equal(view(refused).severity, "warning");
  const down = run([{ type: "started" }, { type: "server", state: "unreachable", message: "connection refused" }]);
  assert.ok(!keyRefused(down));
  assert.match(view(down).text, /gateway unreachable/);
});

test("the Ask panel's empty-answer note says the key was refused on a 401, not 'is the gateway running?'", () => {
  const refused = run([{ type: "started" }, { type: "server", state: "unreachable", message: "gateway refused the request (401): bad key" }]);
  assert.match(noAnswerNote(refused), /refused the API key/);
  assert.doesNotMatch(noAnswerNote(refused), /gateway running/);
  const down = run([{ type: "started" }, { type: "server", state: "unreachable", message: "connection refused" }]);
  assert.match(noAnswerNote(down), /is the gateway running\?/);
});

test("the gateway's own stats: model loading, then ready with the model's name", () => {
  let s = run([{ type: "started" }]);
  s = reduce(s, { type: "gateway", status: "loading" });
  assert.equal(s.phase, "loading");
  assert.match(view(s).text, /model loading/);
  s = reduce(s, { type: "server", state: "unreachable", message: "gateway failed (503): loading" });
  s = reduce(s, { type: "gateway", status: "ready", model: "SmolLM2-135M" });
  assert.equal(s.phase, "ready");
  assert.match(view(s).tooltip, /Model: SmolLM2-135M/);
  assert.match(view(s).spoken, /model SmolLM2-135M/);
  // a gateway started after VS Code is ready once it answers; a refused key stays refused
  const down = run([{ type: "started" }, { type: "server", state: "unreachable", message: "connection refused" }]);
  assert.equal(reduce(down, { type: "gateway", status: "ready" }).phase, "ready");
  const refused = run([{ type: "started" }, { type: "server", state: "unreachable", message: "gateway refused the request (401): x" }]);
  assert.ok(keyRefused(reduce(refused, { type: "gateway", status: "loading" })));
  assert.ok(keyRefused(reduce(refused, { type: "gateway", status: "ready" })));
});

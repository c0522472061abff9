import assert from "node:assert/strict";
import { test } from "node:test";

import { mergeAnswer, PRESETS, questionFor } from "../src/answer";

test("the five presets of the issue, in order", () => {
  assert.deepEqual(
    PRESETS.map((p) => p.label),
    ["Explain", "Fix", "Refactor", "Add docstring", "Write tests"],
  );
});

test("a typed preset name becomes the preset's question; other text is kept", () => {
  assert.equal(questionFor("  explain "), PRESETS[0].question);
  assert.equal(questionFor("why is this slow?"), "why is this slow?");
});

test("streamed pieces and the final result make the whole answer once", () => {
  assert.equal(mergeAnswer("Hello wor", "Hello world"), "Hello world"); // final = whole text
  assert.equal(mergeAnswer("Hello wor", "ld"), "Hello world"); // final = the rest
  assert.equal(mergeAnswer("Hello world", ""), "Hello world"); // LSP style: empty final
  assert.equal(mergeAnswer("", "Hello"), "Hello"); // nothing streamed
});

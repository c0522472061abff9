// The ollama npm package (ollama-js) against the gateway's Ollama API.
// Run by tests/gateway/api/ollama/test_ollama_js.py with OSS_SIDECAR_GATEWAY (the gateway's URL) and
// OSS_SIDECAR_MODEL (the served model id) set; `node --test` in this folder.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ollama } from "ollama";

const host = process.env.OSS_SIDECAR_GATEWAY;
const model = process.env.OSS_SIDECAR_MODEL;
const ollama = new Ollama({ host });

async function stats() {
  const response = await fetch(`${host}/v1/stats`);
  return response.json();
}

test("list, show, ps", async () => {
  const { models } = await ollama.list();
  assert.deepEqual(models.map((m) => m.name), [`${model}:latest`, `${process.env.OSS_SIDECAR_EMBEDDING_MODEL}:latest`]);
  const shown = await ollama.show({ model });
  assert.equal(shown.model_info["general.context_length"], 8192);
  const running = await ollama.ps();
  assert.equal(running.models[0].model, `${model}:latest`);
});

test("chat, one answer", async () => {
  const r = await ollama.chat({ model, messages: [{ role: "user", content: "Say hi." }], options: { num_predict: 5 } });
  assert.equal(r.message.role, "assistant");
  assert.ok(r.message.content.length > 0);
  assert.equal(r.done, true);
  assert.ok(r.eval_count > 0 && r.prompt_eval_count > 0 && r.total_duration > 0);
});

test("chat, streamed", async () => {
  const stream = await ollama.chat({
    model: `${model}:latest`,
    messages: [{ role: "user", content: "Count: 1, 2," }],
    options: { num_predict: 5 },
    stream: true,
  });
  const parts = [];
  for await (const part of stream) parts.push(part);
  const last = parts.at(-1);
  assert.equal(last.done, true);
  assert.ok(["stop", "length"].includes(last.done_reason));
  assert.ok(parts.slice(0, -1).every((p) => p.done === false));
  assert.ok(parts.map((p) => p.message.content).join("").length > 0);
});

test("generate with suffix", async () => {
  const r = await ollama.generate({
    model,
    prompt: "def fib(n):\n    ",
    suffix: "\n\nprint(fib(10))\n",
    options: { num_predict: 32, temperature: 0 },
  });
  assert.equal(r.done, true);
  assert.ok(!r.response.includes("print(fib(10))"));
});

test("format: a JSON schema constrains the answer", async () => {
  const format = {
    type: "object",
    properties: { name: { type: "string", maxLength: 24 }, population_millions: { type: "integer" } },
    required: ["name", "population_millions"],
    additionalProperties: false,
  };
  const r = await ollama.chat({
    model,
    messages: [{ role: "user", content: "Describe Paris as JSON." }],
    format,
    options: { num_predict: 80, temperature: 0 },
  });
  assert.equal(r.done_reason, "stop");
  const city = JSON.parse(r.message.content);
  assert.deepEqual(Object.keys(city).sort(), ["name", "population_millions"]);
  assert.ok(Number.isInteger(city.population_millions));
});

test("errors are ResponseError with Ollama's message", async () => {
  await assert.rejects(ollama.chat({ model: "llama3.2", messages: [{ role: "user", content: "x" }] }), (err) => {
    assert.equal(err.name, "ResponseError");
    assert.equal(err.status_code, 404);
    assert.equal(err.error, "model 'llama3.2' not found");
    return true;
  });
  await assert.rejects(
    ollama.chat({ model, messages: [{ role: "user", content: "x" }], format: { type: "nonsense" } }),
    (err) => err.status_code === 400 && err.error.startsWith("format:"),
  );
});

test("abort() stops the generation in the engine", async () => {
  const before = await stats();
  const stream = await ollama.generate({ model, prompt: "1, 2, 3,", raw: true, options: { num_predict: 2000 }, stream: true });
  let received = 0;
  await assert.rejects(
    (async () => {
      for await (const part of stream) {
        received += 1;
        if (received === 3) stream.abort();
      }
    })(),
    (err) => err.name === "AbortError",
  );
  let after;
  for (let i = 0; i < 300; i++) {
    after = await stats();
    const c = after.engine_counters;
    if (c.requests_processing === 0 && c.requests_aborted_total >= before.engine_counters.requests_aborted_total + 1) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const decodes = after.engine_counters.n_decode_total - before.engine_counters.n_decode_total;
  assert.ok(decodes >= received && decodes < 60, `decodes: ${decodes}`);
  assert.equal(after.gateway_counters.requests_aborted_total, before.gateway_counters.requests_aborted_total + 1);
});

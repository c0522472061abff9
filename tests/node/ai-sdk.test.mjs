// The Vercel AI SDK with its OpenAI-compatible provider against the real gateway
// (GATEWAY_URL, e.g. http://127.0.0.1:8000/v1), started by tests/gateway/api/openai/test_ai_sdk.py.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, streamText, tool } from "ai";
import { z } from "zod";

const provider = createOpenAICompatible({
  name: "oss-sidecar",
  baseURL: process.env.GATEWAY_URL,
  supportsStructuredOutputs: true,
});
const model = provider.chatModel(process.env.GATEWAY_MODEL);

test("generateObject returns an object valid against the schema", async () => {
  const { object, finishReason } = await generateObject({
    model,
    schema: z.object({ name: z.string().max(24), country: z.string().max(24) }),
    prompt: "Paris is the capital of France. Extract the city.",
    temperature: 0,
    maxOutputTokens: 64,
    maxRetries: 0,
  });
  assert.equal(finishReason, "stop");
  assert.equal(typeof object.name, "string");
  assert.equal(typeof object.country, "string");
});

test("with the provider's defaults, generateObject sends no schema (docs/CLIENTS.md)", async () => {
  // Why supportsStructuredOutputs: true is needed: without it the provider asks only for some
  // JSON object and the schema never reaches the server.
  const sent = [];
  const defaults = createOpenAICompatible({
    name: "oss-sidecar",
    baseURL: process.env.GATEWAY_URL,
    fetch: async (url, init) => {
      sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  await generateObject({
    model: defaults.chatModel(process.env.GATEWAY_MODEL),
    schema: z.object({ name: z.string().max(24) }),
    prompt: "Paris is the capital of France. Extract the city.",
    temperature: 0,
    maxOutputTokens: 16,
    maxRetries: 0,
  }).catch(() => {}); // the model may or may not happen to write a matching object
  assert.deepEqual(sent[0].response_format, { type: "json_object" });
  assert.ok(!JSON.stringify(sent[0].messages).includes("name"));
});

test("streamText with a tool streams a call and runs the tool", async () => {
  const seen = [];
  const result = streamText({
    model,
    tools: {
      getWeather: tool({
        description: "Current weather in a city",
        inputSchema: z.object({ city: z.string().max(24) }),
        execute: async ({ city }) => {
          seen.push(city);
          return `18 degrees in ${city}`;
        },
      }),
    },
    toolChoice: "required",
    prompt: "What is the weather in Paris?",
    temperature: 0,
    maxOutputTokens: 48,
    maxRetries: 0,
  });
  const parts = [];
  for await (const part of result.fullStream) {
    if (part.type === "error") throw part.error;
    parts.push(part.type);
  }
  assert.ok(parts.includes("tool-input-delta"), `streamed input pieces expected, got ${parts}`);
  const calls = await result.toolCalls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].toolName, "getWeather");
  assert.equal(seen.length, 1);
  assert.equal((await result.toolResults)[0].output, `18 degrees in ${seen[0]}`);
  assert.equal(await result.finishReason, "tool-calls");
});

// The Vercel AI SDK's OpenAI provider on the Responses API (`openai.responses(...)`) against the
// real gateway (GATEWAY_URL, e.g. http://127.0.0.1:8000/v1), started by
// tests/gateway/api/responses/test_responses_ai_sdk.py.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, streamText, tool } from "ai";
import { z } from "zod";

const openai = createOpenAI({ baseURL: process.env.GATEWAY_URL, apiKey: "unused" });
const model = openai.responses(process.env.GATEWAY_MODEL);

test("generateText answers with usage", async () => {
  const { text, usage, finishReason } = await generateText({
    model,
    system: "Be brief.",
    prompt: "Say hello.",
    temperature: 0,
    maxOutputTokens: 12,
    maxRetries: 0,
  });
  assert.ok(text.trim().length > 0);
  assert.ok(["stop", "length"].includes(finishReason), finishReason);
  assert.ok(usage.inputTokens > 5 && usage.outputTokens <= 12);
});

test("generateObject returns an object valid against the schema", async () => {
  const { object } = await generateObject({
    model,
    schema: z.object({ name: z.string().max(24), country: z.string().max(24) }),
    prompt: "Paris is the capital of France. Extract the city.",
    temperature: 0,
    maxOutputTokens: 64,
    maxRetries: 0,
  });
  assert.equal(typeof object.name, "string");
  assert.equal(typeof object.country, "string");
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
});

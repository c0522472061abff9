// The Vercel AI SDK with its Anthropic provider against the real gateway's Messages API
// (GATEWAY_URL, e.g. http://127.0.0.1:8000/v1), started by tests/gateway/api/anthropic/test_messages_ai_sdk.py.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAnthropic } from "@ai-sdk/anthropic";
import { generateText, streamText, tool } from "ai";
import { z } from "zod";

const provider = createAnthropic({ baseURL: process.env.GATEWAY_URL, apiKey: "unused" });
const model = provider(process.env.GATEWAY_MODEL);

test("generateText answers text with usage", async () => {
  const { text, finishReason, usage } = await generateText({
    model,
    system: "Be brief.",
    prompt: "Say hello.",
    temperature: 0,
    maxOutputTokens: 8,
    maxRetries: 0,
  });
  assert.ok(text.length > 0);
  assert.ok(["stop", "length"].includes(finishReason), finishReason);
  assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0, JSON.stringify(usage));
});

test("streamText with a forced tool streams a call and runs the tool", async () => {
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
    toolChoice: { type: "tool", toolName: "getWeather" },
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

test("an unknown model is the provider's API error with Anthropic's error body", async () => {
  await assert.rejects(
    generateText({ model: provider("claude-nothing"), prompt: "Hi", maxOutputTokens: 4, maxRetries: 0 }),
    (error) => {
      assert.equal(error.statusCode, 404);
      assert.equal(JSON.parse(error.responseBody).error.type, "not_found_error");
      return true;
    },
  );
});

"""The openai-agents SDK's default model (OpenAIResponsesModel, on /v1/responses) runs an agent
with one function tool against the real embedded model: the first turn is forced to call the
tool (a 135M model does not choose tools by itself), the SDK runs it, sends its output back,
and the model answers in text."""
from __future__ import annotations

import openai
import pytest

agents = pytest.importorskip("agents", reason="openai-agents is not installed: pip install -e '.[dev]'")

MODEL = "SmolLM2-135M-Instruct.Q4_1"


async def test_an_agent_calls_its_function_tool_and_answers(gateway):
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return f"18 degrees and sunny in {city}"

    agent = agents.Agent(
        name="weather",
        instructions="Answer in one short sentence.",
        tools=[get_weather],
        model=MODEL,
        # Forced on the first turn only: the SDK resets tool_choice after a call (reset_tool_choice).
        model_settings=agents.ModelSettings(tool_choice="get_weather", max_tokens=160, temperature=0),
    )
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    config = agents.RunConfig(
        model_provider=agents.OpenAIProvider(openai_client=client, use_responses=True), tracing_disabled=True
    )
    result = await agents.Runner.run(agent, "What is the weather in Paris?", run_config=config, max_turns=4)
    kinds = [item.type for item in result.new_items]
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"], kinds
    assert len(calls) >= 1
    assert kinds[-1] == "message_output_item"
    assert isinstance(result.final_output, str)

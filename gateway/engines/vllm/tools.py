"""Tools and structured output on vLLM, with vLLM's own machinery.

- `tool_choice: auto`: vLLM's tool-call parser for the model family (`vllm.tool_call_parser`, or
  detected from the model's type), fed the streamed text as vLLM's server feeds it.
- `required` / a named function: vLLM's structured outputs constrain the answer to one call
  object `{"name", "arguments"}` valid against the tool's parameters (gateway/engines/
  tool_call_format.py reads it as it streams).
- `response_format`: vLLM's structured outputs (JSON schema or any JSON object).
gpt-oss (harmony) is handled in the engine: calls are harmony messages, not parsed text.
vLLM is imported per use, never at module import.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from gateway.engines import base
from gateway.engines.tool_call_format import ToolCallReader, call_schema

# Model types whose tool-call format one of vLLM's parsers reads (vLLM's docs, "Tool Calling").
PARSER_BY_MODEL_TYPE = {
    "qwen2": "hermes",
    "qwen3": "hermes",
    "qwen3_moe": "hermes",
    "llama": "llama3_json",
    "mistral": "mistral",
    "granite": "granite",
    "internlm2": "internlm",
}


def detect_parser(configured: Optional[str], model_type: Optional[str]) -> Optional[str]:
    """The tool-call parser to use for `auto`: the configured one, else the model type's."""
    if configured == "none":
        return None
    if configured:
        return configured
    return PARSER_BY_MODEL_TYPE.get(model_type or "")


def parser_class(name: str) -> Any:
    """vLLM's registered parser class; a name vLLM does not know is a config error."""
    try:
        from vllm.tool_parsers import ToolParserManager
    except ImportError:  # older vLLM layout
        from vllm.entrypoints.openai.tool_parsers import ToolParserManager
    try:
        return ToolParserManager.get_tool_parser(name)
    except KeyError:
        known = ", ".join(ToolParserManager.list_registered())
        raise ValueError(f"vllm.tool_call_parser: {name!r} is not one of vLLM's parsers ({known})") from None


def _vllm_chat_request(request: base.GenerationRequest) -> Any:
    """vLLM's own request object, which its parsers read (tools, tool_choice)."""
    try:
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    except ImportError:  # older vLLM layout
        from vllm.entrypoints.openai.protocol import ChatCompletionRequest
    return ChatCompletionRequest(
        messages=request.messages or [],
        tools=[{"type": "function", "function": t} for t in request.tools],
        tool_choice="auto",
    )


class AutoToolCalls:
    """vLLM's parser over one streamed answer: text in, (content, tool-call pieces) out."""

    def __init__(self, parser_cls: Any, hf_tokenizer: Any, request: base.GenerationRequest):
        self._parser = parser_cls(hf_tokenizer)
        self._request = _vllm_chat_request(request)
        self._text = ""
        self._ids: list[int] = []
        self.calls = 0

    def feed(self, delta_text: str, delta_ids: list[int]) -> tuple[str, list[base.ToolCallPiece]]:
        if not delta_text and not delta_ids:
            return "", []
        previous_text, previous_ids = self._text, list(self._ids)
        self._text += delta_text
        self._ids += list(delta_ids)
        message = self._parser.extract_tool_calls_streaming(
            previous_text, self._text, delta_text, previous_ids, list(self._ids), list(delta_ids), self._request
        )
        if message is None:
            return "", []
        pieces = []
        for call in getattr(message, "tool_calls", None) or []:
            fn = call.function
            name = getattr(fn, "name", None) if fn is not None else None
            pieces.append(base.ToolCallPiece(
                index=call.index, id=getattr(call, "id", None) or None, name=name or None,
                arguments=(getattr(fn, "arguments", None) or "") if fn is not None else "",
            ))
            self.calls = max(self.calls, call.index + 1)
        return getattr(message, "content", None) or "", pieces


class ForcedToolCall:
    """`required` / a named function: the answer is one call object under a JSON schema."""

    def __init__(self, request: base.GenerationRequest):
        tools = request.tools
        if request.tool_choice.mode == "function":
            tools = [t for t in tools if t["name"] == request.tool_choice.name]
        self.schema = call_schema(tools)
        self._reader = ToolCallReader(tagged=False)

    @property
    def calls(self) -> int:
        return self._reader.calls

    def feed(self, delta_text: str) -> list[base.ToolCallPiece]:
        return self._reader.feed(delta_text)


def structured_outputs(schema: Optional[dict[str, Any]] = None, json_object: bool = False) -> Any:
    """vLLM's structured-outputs parameters for a JSON schema, or for any JSON object."""
    from vllm.sampling_params import StructuredOutputsParams

    if json_object:
        return StructuredOutputsParams(json_object=True)
    return StructuredOutputsParams(json=json.dumps(schema))


def logprob_entries(token_ids: list[int], logprobs: Any, top: int) -> list[base.TokenLogprob]:
    """vLLM's per-token logprob dicts (token id -> Logprob) for the sampled `token_ids`."""
    out = []
    for token_id, ranked in zip(token_ids, logprobs or []):
        if not ranked:
            continue
        chosen = ranked.get(token_id)
        if chosen is None:
            continue
        entry = _entry(chosen)
        alternatives = sorted(ranked.values(), key=lambda lp: (lp.rank if lp.rank is not None else 1 << 30))
        entry.top = [_entry(lp) for lp in alternatives[:top]]
        out.append(entry)
    return out


def _entry(lp: Any) -> base.TokenLogprob:
    token = lp.decoded_token or ""
    return base.TokenLogprob(token=token, logprob=float(lp.logprob), bytes=list(token.encode()))

"""Between the neutral engine types and llama.cpp's own shapes: a GenerationRequest as the body
xllamacpp's chat or completion handler takes, the logprobs in its streamed chunks, and its
refusals and errors as RequestError (a 400 naming the field), PromptTooLongError or EngineError."""
from __future__ import annotations

from typing import Any, Optional

from gateway.engines.base import (
    EngineError,
    GenerationRequest,
    PromptTooLongError,
    RequestError,
    TokenLogprob,
)
from gateway.engines.llamacpp.tools import tool_definitions
from gateway.engines.tool_call_format import call_grammar

# Sampling fields whose llama.cpp name differs from the OpenAI/vLLM one.
RENAMED = {"repetition_penalty": "repeat_penalty"}


def request_body(request: GenerationRequest, forced_prompt: Optional[str] = None) -> dict[str, Any]:
    """llama.cpp's request body. A forced tool call is a completion of the chat prompt
    (rendered with the tools) under the tool-call grammar; everything else is llama.cpp's
    own chat or completion request."""
    body: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    if forced_prompt is not None:
        body["prompt"] = forced_prompt
        tools = request.tools
        if request.tool_choice.mode == "function":
            tools = [t for t in tools if t["name"] == request.tool_choice.name]
        body["grammar"] = call_grammar(tools)
    elif request.messages is not None:
        body["messages"] = request.messages
        template_kwargs = dict(request.extra.get("chat_template_kwargs") or {})
        if request.extra.get("reasoning_effort"):
            # For templates that take it (gpt-oss GGUFs); others render without it.
            template_kwargs["reasoning_effort"] = request.extra["reasoning_effort"]
        if template_kwargs:
            body["chat_template_kwargs"] = template_kwargs
        if request.tools:
            body["tools"] = tool_definitions(request.tools)
            body["tool_choice"] = request.tool_choice.mode
            body["parallel_tool_calls"] = request.parallel_tool_calls
    else:
        body["prompt"] = request.prompt
    fmt = request.response_format
    if fmt is not None and "messages" in body:
        body["response_format"] = (
            {"type": "json_object"}
            if fmt.schema is None
            else {"type": "json_schema", "json_schema": {"name": fmt.name or "output", "schema": fmt.schema}}
        )
    elif fmt is not None and forced_prompt is None:
        # llama.cpp's completion endpoint reads the schema from `json_schema`, not response_format.
        body["json_schema"] = fmt.schema if fmt.schema is not None else {"type": "object"}
    if request.logprobs is not None:
        # llama.cpp reports nothing, not even the sampled token, for 0 alternatives: ask for one
        # and drop it again in logprobs().
        alternatives = max(request.logprobs, 1)
        if request.messages is not None and forced_prompt is None:
            body["logprobs"] = True
            body["top_logprobs"] = alternatives
        else:
            body["logprobs"] = alternatives
    for name, value in vars(request.sampling).items():
        if value is None or (name == "stop" and not value):
            continue
        body[RENAMED.get(name, name)] = value
    if request.extra.get("ignore_eos"):
        body["ignore_eos"] = True
    return body


def forced_token_body(prefix: list[int], token: int, alternatives: int) -> dict[str, Any]:
    """A one-token completion of `prefix` that must write `token`: its reported log probability
    is the token's given the prefix (llama.cpp computes it before the bias)."""
    return {"prompt": prefix, "n_predict": 1, "logprobs": max(alternatives, 1), "temperature": 0,
            "logit_bias": [[token, 1e9]], "cache_prompt": True, "stream": False}


def forced_token_logprob(answer: Any, alternatives: int) -> TokenLogprob:
    if isinstance(answer, dict) and "error" in answer:
        raise EngineError(str(answer["error"].get("message", answer["error"])))
    entries = logprobs(answer["choices"][0].get("logprobs"), alternatives)
    if not entries:
        raise EngineError("llama.cpp reported no log probability for a prompt token")
    return entries[0]


def _logprob(entry: dict[str, Any]) -> TokenLogprob:
    return TokenLogprob(token=entry.get("token", ""), logprob=float(entry.get("logprob", 0.0)), bytes=entry.get("bytes"))


def logprobs(block: Optional[dict[str, Any]], alternatives: int) -> list[TokenLogprob]:
    """llama.cpp's `logprobs.content` (OpenAI's chat shape, completions too) as neutral entries,
    each with at most `alternatives` of the most likely tokens."""
    out = []
    for entry in (block or {}).get("content") or ():
        item = _logprob(entry)
        item.top = [_logprob(t) for t in (entry.get("top_logprobs") or ())[:alternatives]]
        out.append(item)
    return out


def refusal(exc: Exception, request: GenerationRequest) -> Optional[RequestError]:
    """An exception llama.cpp raises before generating, about what the request holds (a 400, not
    the engine failing): a history tool call whose arguments are not JSON (llama.cpp parses them
    to render the template), a combination it refuses (ValueError)."""
    message = str(exc)
    if "tool call arguments" in message:
        return RequestError(f"messages: an assistant message's tool_calls[].function.arguments is not JSON: {message}",
                            param="messages")
    if isinstance(exc, ValueError):
        return RequestError(message, param=param_in(message, request))
    return None


def param_in(message: str, request: GenerationRequest) -> Optional[str]:
    """The request field a llama.cpp refusal is about, when its message tells."""
    lowered = message.lower()
    if request.response_format is not None and ("schema" in lowered or "grammar" in lowered):
        return "response_format"
    if "logprobs" in lowered:
        return "logprobs"
    if "tool" in lowered:
        return "tools"
    return None


class PoolFullError(EngineError):
    """The KV cache pool that all slots share is full: llama.cpp ends every run in it."""


def engine_error(error: dict, request: GenerationRequest) -> Exception:
    """An error chunk llama.cpp streams, as the exception the consumer raises."""
    if "Context size has been exceeded" in error.get("message", ""):
        return PoolFullError(error["message"])
    if error.get("type") == "exceed_context_size_error":
        param = "messages" if request.messages is not None else "prompt"
        return PromptTooLongError(error.get("n_prompt_tokens", 0), error.get("n_ctx", 0), param)
    if error.get("code") == 400:
        message = error.get("message", "invalid request")
        return RequestError(message, param=param_in(message, request))
    return EngineError(error.get("message", "llama.cpp error"))

"""OpenAI chat messages -> a gpt-oss harmony prompt (token ids), and which models speak harmony."""
from __future__ import annotations

import datetime
import os
from typing import Any, Optional

from gateway.prompts.harmony.vocab import get_encoding

REASONING_EFFORTS = ("low", "medium", "high")


def is_harmony_model(hf_config: Any = None, model_type: Optional[str] = None) -> bool:
    """gpt-oss checkpoints (model_type gpt_oss) speak harmony."""
    mt = model_type or getattr(hf_config, "model_type", None)
    if mt is None and isinstance(hf_config, dict):
        mt = hf_config.get("model_type")
    return mt == "gpt_oss"


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        out = []
        for part in content:
            if isinstance(part, dict):
                if part.get("type", "text") == "text":
                    out.append(str(part.get("text", "")))
            else:
                out.append(str(part))
        return "".join(out)
    return str(content)


def normalize_effort(value: Any) -> Optional[str]:
    if value is None:
        return None
    v = str(value).strip().lower()
    if v not in REASONING_EFFORTS:
        raise ValueError(f"reasoning_effort must be one of low, medium, high (got {value!r})")
    return v


def build_messages(
    messages: list[dict[str, Any]],
    *,
    reasoning_effort: Optional[str] = None,
    start_date: Optional[str] = None,
    model_identity: Optional[str] = None,
    tools: Optional[list[dict[str, Any]]] = None,
) -> list[Any]:
    """OpenAI chat messages -> harmony Messages (system, developer, then the turns).

    OpenAI `system`/`developer` messages become the developer message's instructions (as vLLM does
    for gpt-oss); `tools` ({"name", "description", "parameters"}) become the developer message's
    function tools (the `functions` namespace); assistant turns go to the `final` channel, their
    tool calls to `commentary` addressed to `functions.<name>`; tool results are messages from
    `functions.<name>`, the name found through their `tool_call_id`.
    """
    import openai_harmony as oh

    effort = normalize_effort(reasoning_effort)
    sys_content = oh.SystemContent.new()
    if model_identity:
        sys_content = sys_content.with_model_identity(model_identity)
    if effort:
        sys_content = sys_content.with_reasoning_effort(oh.ReasoningEffort(effort.capitalize()))
    date = start_date or os.environ.get("VLLM_SYSTEM_START_DATE") or datetime.date.today().isoformat()
    sys_content = sys_content.with_conversation_start_date(date)
    out = [oh.Message.from_role_and_content(oh.Role.SYSTEM, sys_content)]

    instructions = [
        _text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    ]
    instructions = [i for i in instructions if i]
    if instructions or tools:
        dev = oh.DeveloperContent.new()
        if instructions:
            dev = dev.with_instructions("\n\n".join(instructions))
        if tools:
            dev = dev.with_function_tools([
                oh.ToolDescription.new(t["name"], t.get("description") or "", parameters=t.get("parameters"))
                for t in tools
            ])
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, dev))

    call_names: dict[str, str] = {}  # tool_call_id -> function name, for the results
    for m in messages:
        role = m.get("role")
        text = _text_of(m.get("content"))
        if role in ("system", "developer"):
            continue
        if role == "user":
            out.append(oh.Message.from_role_and_content(oh.Role.USER, text))
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            if text:
                # Text before a call is the model's preamble (commentary), else its final answer.
                channel = "commentary" if calls else "final"
                out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, text).with_channel(channel))
            for call in calls:
                fn = call.get("function") or {}
                call_names[call.get("id", "")] = fn.get("name", "")
                msg = oh.Message.from_role_and_content(oh.Role.ASSISTANT, fn.get("arguments") or "{}")
                out.append(
                    msg.with_channel("commentary")
                    .with_recipient(f"functions.{fn.get('name', '')}")
                    .with_content_type("<|constrain|>json")
                )
        elif role == "tool":
            name = call_names.get(m.get("tool_call_id") or "") or m.get("name") or "tool"
            author = name if name.startswith("functions.") else f"functions.{name}"
            msg = oh.Message.from_author_and_content(oh.Author.new(oh.Role.TOOL, author), text)
            out.append(msg.with_channel("commentary").with_recipient("assistant"))
        else:
            raise ValueError(f"messages: unsupported role {role!r}")
    return out


def render_chat(messages: list[dict[str, Any]], *, prefill: str = "", **kwargs: Any) -> list[int]:
    """Prompt token ids for `messages`, ending where the assistant's answer starts; `prefill`
    (harmony header text, see `call_header` / `FINAL_HEADER`) starts the answer for the model."""
    import openai_harmony as oh

    enc = get_encoding()
    conv = oh.Conversation.from_messages(build_messages(messages, **kwargs))
    ids = list(enc.render_conversation_for_completion(conv, oh.Role.ASSISTANT))
    return ids + (prefill_ids(prefill) if prefill else [])


# The answer's header when the answer must be the final text (structured output: the JSON
# constraint starts right after it, with no analysis before).
FINAL_HEADER = "<|channel|>final<|message|>"


def call_header(name: str) -> str:
    """The answer's header of a call to function `name` (a named tool_choice): the model writes
    only the arguments."""
    return f"<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"


def prefill_ids(text: str) -> list[int]:
    return list(get_encoding().encode(text, allowed_special="all"))


def render_chat_text(messages: list[dict[str, Any]], **kwargs: Any) -> str:
    return get_encoding().decode(render_chat(messages, **kwargs))

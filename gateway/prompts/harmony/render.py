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
) -> list[Any]:
    """OpenAI chat messages -> harmony Messages (system, developer, then the turns).

    OpenAI `system`/`developer` messages become the developer message's instructions (as vLLM does
    for gpt-oss); assistant turns go to the `final` channel; tool results are tool messages.
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
    if instructions:
        dev = oh.DeveloperContent.new().with_instructions("\n\n".join(instructions))
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, dev))

    for m in messages:
        role = m.get("role")
        text = _text_of(m.get("content"))
        if role in ("system", "developer"):
            continue
        if role == "user":
            out.append(oh.Message.from_role_and_content(oh.Role.USER, text))
        elif role == "assistant":
            if text:
                out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, text).with_channel("final"))
        elif role == "tool":
            name = m.get("name") or "functions.tool"
            msg = oh.Message.from_author_and_content(oh.Author.new(oh.Role.TOOL, name), text)
            out.append(msg.with_channel("commentary").with_recipient("assistant"))
        else:
            raise ValueError(f"messages: unsupported role {role!r}")
    return out


def render_chat(messages: list[dict[str, Any]], **kwargs: Any) -> list[int]:
    """Prompt token ids for `messages`, ending where the assistant's answer starts."""
    import openai_harmony as oh

    enc = get_encoding()
    conv = oh.Conversation.from_messages(build_messages(messages, **kwargs))
    return list(enc.render_conversation_for_completion(conv, oh.Role.ASSISTANT))


def render_chat_text(messages: list[dict[str, Any]], **kwargs: Any) -> str:
    return get_encoding().decode(render_chat(messages, **kwargs))

"""The harmony package: what its callers use is importable from it, and importing it loads
neither openai-harmony nor torch nor vLLM (the gateway imports it on any install)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.prompts import harmony
from gateway.prompts.harmony import parser, render, vocab

ROOT = Path(__file__).resolve().parents[4]


def test_callers_names_come_from_the_concern_modules():
    assert harmony.render_chat is render.render_chat
    assert harmony.render_chat_text is render.render_chat_text
    assert harmony.is_harmony_model is render.is_harmony_model
    assert harmony.HarmonyStreamParser is parser.HarmonyStreamParser
    assert harmony.get_encoding is vocab.get_encoding
    assert harmony.ensure_vocab is vocab.ensure_vocab
    assert harmony.stop_token_ids is vocab.stop_token_ids
    assert harmony.special_tokens is vocab.special_tokens
    assert harmony.HarmonyUnavailable is vocab.HarmonyUnavailable
    assert all(hasattr(harmony, name) for name in harmony.__all__)


def test_import_loads_no_heavy_package():
    code = ("import sys, gateway.prompts.harmony; "
            "print(*('openai_harmony' in sys.modules, 'torch' in sys.modules, 'vllm' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]

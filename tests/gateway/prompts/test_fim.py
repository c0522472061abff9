"""FIM prompt rendering per model family: golden prompts, stop lists, detection, fallback."""

import dataclasses
import re

import pytest

from gateway.prompts.fim import FAMILIES, FimPrompt, detect_family, get_family, render_fim

PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"
FILES = [("util.py", "def mul(a, b):\n    return a * b\n"), ("README.md", "# demo")]

# Special-token sets as the vocabularies have them. Qwen and SmolLM2 are read from the GGUF
# files (control and user-defined tokens); the others from the models' tokenizer configs.
QWEN25_CODER = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
}
STARCODER2 = {
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>",
    "<file_sep>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
    "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>",
    "<code_to_intermediate>", "<intermediate_to_code>", "<pr>", "<pr_status>", "<pr_diff>",
}
STARCODER1 = {
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
    "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
    "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>",
    "<commit_msg>", "<commit_after>", "<reponame>",
}
CODEGEMMA = {
    "<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[@BOS@]", "<start_of_turn>", "<end_of_turn>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>", "<unused0>",
}
CODELLAMA_SENTENCEPIECE = {"<unk>", "<s>", "</s>", "▁<PRE>", "▁<MID>", "▁<SUF>", "▁<EOT>"}
CODELLAMA_PLAIN = {"<unk>", "<s>", "</s>", "<PRE>", "<MID>", "<SUF>", "<EOT>"}
DEEPSEEK_CODER = {
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
    "<｜fim▁end｜>", "<pad>", "<|User|>", "<|Assistant|>", "<|EOT|>",
}
CODESTRAL = {
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]",
}
SMOLLM2 = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>",
    "<filename>", "<gh_stars>", "<issue_start>",
}


# --- golden prompts, single file -------------------------------------------------------------

GOLDEN_SINGLE_FILE = {
    "qwen2.5-coder": "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
    "starcoder2": "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>",
    "codellama": "<PRE> def add(a, b):\n     <SUF>\n\nprint(add(1, 2))\n <MID>",
    "deepseek-coder": "<｜fim▁begin｜>def add(a, b):\n    <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>",
    "codestral": "[SUFFIX]\n\nprint(add(1, 2))\n[PREFIX]def add(a, b):\n    ",
    "codegemma": "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SINGLE_FILE))
def test_single_file_prompt_is_the_published_format(name):
    assert render_fim(get_family(name), PREFIX, SUFFIX).prompt == GOLDEN_SINGLE_FILE[name]


def test_every_family_has_a_golden_case():
    assert set(GOLDEN_SINGLE_FILE) == set(FAMILIES)


def test_codellama_spaces_are_exact():
    # "<PRE> {prefix} <SUF>{suffix} <MID>": a space after <PRE> and before <SUF> and <MID>,
    # none between <SUF> and the suffix.
    assert get_family("codellama").render("a", "b") == "<PRE> a <SUF>b <MID>"


def test_deepseek_tokens_use_fullwidth_bar_and_lower_block():
    prompt = get_family("deepseek-coder").render("a", "b")
    assert prompt == "<\uff5cfim\u2581begin\uff5c>a<\uff5cfim\u2581hole\uff5c>b<\uff5cfim\u2581end\uff5c>"
    assert "|" not in prompt and "_" not in prompt


@pytest.mark.parametrize("name", sorted(GOLDEN_SINGLE_FILE))
def test_no_family_writes_a_bos_token(name):
    # The engine's tokenizer adds BOS; a second one in the text would double it.
    prompt = get_family(name).render("x", "y")
    for bos in ("<s>", "<bos>", "<｜begin▁of▁sentence｜>"):
        assert bos not in prompt


def test_empty_suffix_and_prefix_keep_every_token():
    assert get_family("qwen2.5-coder").render("", "") == "<|fim_prefix|><|fim_suffix|><|fim_middle|>"
    assert get_family("codestral").render("", "") == "[SUFFIX][PREFIX]"


# --- stop lists ------------------------------------------------------------------------------

GOLDEN_STOPS = {
    "qwen2.5-coder": [
        "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
        "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>",
    ],
    "starcoder2": [
        "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
        "<repo_name>", "<file_sep>",
    ],
    "codellama": ["<PRE>", "<SUF>", "<MID>", "<EOT>", "</s>"],
    "deepseek-coder": ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<|EOT|>", "<｜end▁of▁sentence｜>"],
    "codestral": ["[PREFIX]", "[SUFFIX]", "[MIDDLE]", "</s>"],
    "codegemma": [
        "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>",
        "<end_of_turn>", "<eos>",
    ],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_STOPS))
def test_stop_list_is_exact(name):
    result = render_fim(get_family(name), PREFIX, SUFFIX)
    assert result == FimPrompt(prompt=GOLDEN_SINGLE_FILE[name], stop=GOLDEN_STOPS[name], family=name)


@pytest.mark.parametrize("name", sorted(GOLDEN_STOPS))
def test_every_token_the_prompt_writes_is_a_stop(name):
    # Whatever special token the template writes must never come back in the output.
    prompt = get_family(name).render("", "", files=[("p", "")], repo_name="r", path="q")
    written = set(re.findall(r"<[^<>\s]+>|\[[A-Z]+\]", prompt))
    assert written and written <= set(GOLDEN_STOPS[name])


def test_stop_list_is_a_fresh_list_each_time():
    first = render_fim(get_family("qwen2.5-coder"), "a", "b")
    first.stop.append("mine")
    assert "mine" not in render_fim(get_family("qwen2.5-coder"), "a", "b").stop


# --- other files and the repository name ------------------------------------------------------


def test_qwen_repo_level_infilling_format():
    prompt = get_family("qwen2.5-coder").render(PREFIX, SUFFIX, files=FILES, repo_name="demo", path="main.py")
    assert prompt == (
        "<|repo_name|>demo\n"
        "<|file_sep|>util.py\ndef mul(a, b):\n    return a * b\n\n"
        "<|file_sep|>README.md\n# demo\n"
        "<|file_sep|>main.py\n"
        "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"
    )


def test_qwen_files_without_repo_name_or_current_path():
    prompt = get_family("qwen2.5-coder").render("a", "b", files=[("x.py", "x = 1")])
    assert prompt == "<|file_sep|>x.py\nx = 1\n<|file_sep|><|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"


def test_qwen_repo_name_without_files():
    prompt = get_family("qwen2.5-coder").render("a", "b", repo_name="demo", path="m.py")
    assert prompt == "<|repo_name|>demo\n<|file_sep|>m.py\n<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"


def test_path_alone_keeps_the_single_file_format():
    assert get_family("qwen2.5-coder").render("a", "b", path="m.py") == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"


def test_starcoder2_repository_context_format():
    prompt = get_family("starcoder2").render(PREFIX, SUFFIX, files=FILES, repo_name="demo", path="main.py")
    assert prompt == (
        "<repo_name>demo"
        "<file_sep>util.py\ndef mul(a, b):\n    return a * b\n"
        "<file_sep>README.md\n# demo"
        "<file_sep><fim_prefix>main.py\ndef add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>"
    )


def test_starcoder2_files_without_metadata():
    prompt = get_family("starcoder2").render("a", "b", files=[("x.py", "x = 1\n")])
    assert prompt == "<file_sep>x.py\nx = 1\n<file_sep><fim_prefix>a<fim_suffix>b<fim_middle>"


def test_codegemma_files_use_file_separator_and_ignore_repo_name():
    family = get_family("codegemma")
    prompt = family.render("a", "b", files=[("x.py", "x = 1")], repo_name="demo", path="m.py")
    assert prompt == "<|file_separator|>x.py\nx = 1\n<|file_separator|>m.py\n<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    assert family.render("a", "b", repo_name="demo") == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"


@pytest.mark.parametrize("name", ["codellama", "deepseek-coder", "codestral"])
def test_families_without_a_file_format_ignore_files(name):
    family = get_family(name)
    assert family.supports_files is False
    with_files = family.render(PREFIX, SUFFIX, files=FILES, repo_name="demo", path="main.py")
    assert with_files == GOLDEN_SINGLE_FILE[name]


def test_supports_files_flags():
    flags = {name: family.supports_files for name, family in FAMILIES.items()}
    assert flags == {
        "qwen2.5-coder": True, "starcoder2": True, "codellama": False,
        "deepseek-coder": False, "codestral": False, "codegemma": True,
    }


def test_render_fim_passes_files_through():
    result = render_fim(get_family("qwen2.5-coder"), "a", "b", files=[("x.py", "x")], repo_name="r", path="m.py")
    assert result.prompt.startswith("<|repo_name|>r\n<|file_sep|>x.py\nx\n<|file_sep|>m.py\n<|fim_prefix|>a")


# --- detection --------------------------------------------------------------------------------

DETECTED = [
    (QWEN25_CODER, "qwen2.5-coder"),
    (STARCODER2, "starcoder2"),
    (STARCODER1, "starcoder2"),
    (CODEGEMMA, "codegemma"),
    (CODELLAMA_SENTENCEPIECE, "codellama"),
    (CODELLAMA_PLAIN, "codellama"),
    (DEEPSEEK_CODER, "deepseek-coder"),
    (CODESTRAL, "codestral"),
]


@pytest.mark.parametrize(("vocabulary", "name"), DETECTED, ids=[name for _, name in DETECTED])
def test_detects_family_from_special_tokens(vocabulary, name):
    family = detect_family(vocabulary)
    assert family is not None and family.name == name


def test_smollm2_has_no_fim_tokens():
    # <file_sep>/<reponame> are there, the FIM tokens are not.
    assert detect_family(SMOLLM2) is None


def test_empty_vocabulary_has_no_family():
    assert detect_family([]) is None


def test_detection_accepts_any_iterable_once():
    assert detect_family(iter(sorted(QWEN25_CODER))).name == "qwen2.5-coder"


def test_codegemma_beats_qwen_on_the_shared_piped_tokens():
    # Both vocabularies have <|fim_prefix|>/<|fim_suffix|>/<|fim_middle|>; <|file_separator|>
    # is Gemma's, so the family with more matching detect tokens wins.
    assert detect_family(CODEGEMMA).name == "codegemma"
    assert detect_family(CODEGEMMA - {"<|file_separator|>"}).name == "qwen2.5-coder"


def test_piped_and_unpiped_tokens_are_different_families():
    # CodeQwen1.5 and StarCoder spell the tokens without pipes: that is the StarCoder2 format,
    # never Qwen2.5-Coder's.
    codeqwen15 = {"<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<reponame>", "<file_sep>"}
    assert detect_family(codeqwen15).name == "starcoder2"
    assert detect_family(QWEN25_CODER | {"<fim_prefix>"}).name == "qwen2.5-coder"


def test_detected_family_keeps_file_support_when_the_tokens_exist():
    assert detect_family(QWEN25_CODER).supports_files is True
    assert detect_family(STARCODER2).supports_files is True
    assert detect_family(CODEGEMMA).supports_files is True


def test_vocabulary_without_the_file_tokens_turns_file_support_off():
    # StarCoder 1 has the FIM tokens but no <file_sep>/<repo_name>: snippets would be plain text.
    family = detect_family(STARCODER1)
    assert family.supports_files is False
    assert family.render("a", "b", files=FILES, repo_name="demo") == "<fim_prefix>a<fim_suffix>b<fim_middle>"
    assert family.stop == FAMILIES["starcoder2"].stop
    assert FAMILIES["starcoder2"].supports_files is True  # the registry entry is untouched


def test_detected_family_is_the_registered_one_when_nothing_is_missing():
    assert detect_family(QWEN25_CODER) is FAMILIES["qwen2.5-coder"]
    assert detect_family(DEEPSEEK_CODER) is FAMILIES["deepseek-coder"]


def test_families_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAMILIES["codellama"].supports_files = True


# --- configuration override -------------------------------------------------------------------


def test_get_family_by_name():
    assert get_family("deepseek-coder") is FAMILIES["deepseek-coder"]
    assert get_family(" CodeGemma ") is FAMILIES["codegemma"]


def test_unknown_family_name_lists_the_valid_names():
    with pytest.raises(ValueError) as error:
        get_family("llama3")
    message = str(error.value)
    assert "'llama3'" in message
    for name in FAMILIES:
        assert name in message


# --- fallback without FIM tokens --------------------------------------------------------------


def test_fallback_prompt_is_the_prefix_and_stop_is_the_next_line():
    result = render_fim(None, PREFIX, SUFFIX)
    assert result == FimPrompt(prompt=PREFIX, stop=["print(add(1, 2))"], family=None)


def test_fallback_strips_the_stop_line_and_skips_blank_lines():
    result = render_fim(None, "x = ", "  \n\t\n    return value  \nmore\n")
    assert result.stop == ["return value"]


def test_fallback_uses_the_rest_of_the_cursor_line_first():
    assert render_fim(None, "print(", "x)\nnext()\n").stop == ["x)"]


@pytest.mark.parametrize("suffix", ["", "\n", "   \n\t\n"])
def test_fallback_without_a_suffix_line_has_no_stop(suffix):
    assert render_fim(None, "x = ", suffix) == FimPrompt(prompt="x = ", stop=[], family=None)


def test_fallback_ignores_files():
    assert render_fim(None, "a", "b", files=FILES, repo_name="demo", path="m.py").prompt == "a"

"""Fill-in-the-middle (FIM) prompts, rendered per model family.

vLLM rejects ``suffix`` on ``/v1/completions``, so the gateway turns (prefix, suffix) into the
one prompt string the model was trained on, and adds the family's special tokens as stop
sequences so that none of them leak into the completion.

Formats (text form; the engine's tokenizer turns the token strings into special tokens):

=================  ===========================================================================
qwen2.5-coder      ``<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``
starcoder2         ``<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>``
codellama          ``<PRE> {prefix} <SUF>{suffix} <MID>``
deepseek-coder     ``<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>`` (U+FF5C, U+2581)
codestral          ``[SUFFIX]{suffix}[PREFIX]{prefix}`` (suffix first; the model writes the middle)
codegemma          ``<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``
=================  ===========================================================================

Beginning-of-sequence tokens (``<s>``, ``<｜begin▁of▁sentence｜>``, ``<bos>``) are never written
here: llama.cpp and vLLM add the BOS themselves when they tokenize a completion prompt, and a
second one written into the text would double it. Leading spaces follow the published text
forms: CodeLlama's space after ``<PRE>`` stands for the SentencePiece space Meta's
``infilling_prompt_tokens`` gives the prefix (its vocabulary spells the tokens ``▁<PRE>``,
``▁<SUF>``, ``▁<MID>``); Codestral's ``[PREFIX]{prefix}`` has none because the SentencePiece
tokenizer adds it (mistral-common encodes ``[PREFIX]▁def``). How exactly a text prompt maps onto
those token ids depends on the engine's tokenizer; this module can only get the text right.

Other files. Families with a file-separator format (``supports_files``: Qwen2.5-Coder,
StarCoder2, CodeGemma) put snippets of other open documents before the current file, one
``<file separator>{path}\\n{content}`` each, after a ``<repo name>{repo}`` line when the family
has a repository token and a name is given. CodeLlama, DeepSeek-Coder and Codestral have no
such token, so their snippets are ignored (DeepSeek's README lists files as ``#path`` comments,
which depend on the language: that belongs to the context builder, not to the template).

Detection. A family matches a vocabulary when all its ``detect_tokens`` are in it (a leading
``▁`` or space, as SentencePiece vocabularies spell CodeLlama's tokens, is ignored). When
several match, the one with the most detect tokens wins, so the more specific family beats the
generic one; ties follow the order of ``FAMILIES``:

- ``<|fim_prefix|>``, ``<|fim_suffix|>``, ``<|fim_middle|>`` are shared by Qwen2.5-Coder and
  CodeGemma. CodeGemma's detect tokens add ``<|file_separator|>``, so a Gemma vocabulary is
  CodeGemma and any other vocabulary with the piped tokens is Qwen (the non-coder Qwen2.5
  models share that vocabulary, so they get the same format).
- ``<fim_prefix>`` without pipes (StarCoder, StarCoder2, CodeQwen1.5, stable-code, Granite)
  is the StarCoder2 family: the same three-token format.
- A vocabulary with the FIM tokens but not the family's file tokens (StarCoder 1 has no
  ``<file_sep>``) gets the family with ``supports_files`` off, so snippets are dropped rather
  than written as plain text.

Fallback. A model without FIM tokens (``family=None``; e.g. SmolLM2, whose vocabulary has
``<file_sep>``/``<reponame>`` but no FIM tokens) gets the prefix alone as its prompt, plus one
stop sequence: the first non-blank line of the suffix, stripped of surrounding whitespace, when
there is one, so that the model does not rewrite the code that follows the cursor. Snippets of
other files are ignored.

Known limit: a prefix or suffix that itself contains a family's token strings (say, this file
open in the editor) is read by the engine as those special tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FileSnippet = tuple[str, str]  # (path, content) of another open document

# SentencePiece vocabularies store CodeLlama's tokens as "▁<PRE>" etc.
_SENTENCEPIECE_SPACE = "\u2581"


@dataclass(frozen=True)
class FimFamily:
    """One model family's FIM format. Subclasses implement ``render``."""

    name: str
    detect_tokens: tuple[str, ...]  # all present in a vocabulary -> this family
    stop: tuple[str, ...]  # stop sequences added to every FIM request
    supports_files: bool  # has a file-separator format for snippets of other files
    file_tokens: tuple[str, ...] = ()  # tokens that format needs in the vocabulary

    def render(
        self,
        prefix: str,
        suffix: str,
        files: Sequence[FileSnippet] = (),
        repo_name: str | None = None,
        path: str | None = None,
    ) -> str:
        """The prompt text. ``path`` names the current file in the file-separator format."""
        raise NotImplementedError


def _uses_repo_layout(family: FimFamily, files: Sequence[FileSnippet], repo_name: str | None) -> bool:
    # Without other files or a repo name the plain single-file format is used: it is the one
    # every client sends, so the best tested.
    return family.supports_files and (bool(files) or bool(repo_name))


class QwenCoderFim(FimFamily):
    """QwenLM/Qwen2.5-Coder README: file-level FIM and repository-level infilling."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        infill = f"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
        if not _uses_repo_layout(self, files, repo_name):
            return infill
        parts = [f"<|repo_name|>{repo_name}\n"] if repo_name else []
        parts += [f"<|file_sep|>{file_path}\n{content}\n" for file_path, content in files]
        parts.append(f"<|file_sep|>{path}\n" if path else "<|file_sep|>")
        return "".join(parts) + infill


class StarCoder2Fim(FimFamily):
    """StarCoder2 paper (arXiv 2402.19173) section 5.1: repository context, FIM on one file."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        if not _uses_repo_layout(self, files, repo_name):
            return f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>"
        # Training format: "<repo_name>r<file_sep>p0\ncode0<file_sep><fim_prefix>p1\npre<fim_suffix>..."
        # (no newline after the repo name; the current file's path goes after <fim_prefix>).
        parts = [f"<repo_name>{repo_name}"] if repo_name else []
        parts += [f"<file_sep>{file_path}\n{content}" for file_path, content in files]
        current_path = f"{path}\n" if path else ""
        parts.append(f"<file_sep><fim_prefix>{current_path}{prefix}<fim_suffix>{suffix}<fim_middle>")
        return "".join(parts)


class CodeLlamaFim(FimFamily):
    """meta-llama/codellama llama/generation.py ``infilling_prompt_tokens`` (prefix first)."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        return f"<PRE> {prefix} <SUF>{suffix} <MID>"


class DeepSeekCoderFim(FimFamily):
    """deepseek-ai/DeepSeek-Coder README, "Code Insertion"."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        return f"<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>"


class CodestralFim(FimFamily):
    """mistral-common FIM for tokenizer v3 (Codestral-22B): suffix first, no middle token."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        return f"[SUFFIX]{suffix}[PREFIX]{prefix}"


class CodeGemmaFim(FimFamily):
    """ai.google.dev CodeGemma prompt structure; <|file_separator|> separates files."""

    def render(self, prefix, suffix, files=(), repo_name=None, path=None):
        infill = f"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
        # CodeGemma has no repository token: only other files change the prompt.
        if not (self.supports_files and files):
            return infill
        # Google publishes the token ("for multi-file contexts") but no layout; this mirrors Qwen's.
        parts = [f"<|file_separator|>{file_path}\n{content}\n" for file_path, content in files]
        parts.append(f"<|file_separator|>{path}\n" if path else "<|file_separator|>")
        return "".join(parts) + infill


_QWEN_FIM = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")

FAMILIES: dict[str, FimFamily] = {
    family.name: family
    for family in (
        QwenCoderFim(
            name="qwen2.5-coder",
            detect_tokens=_QWEN_FIM,
            stop=(
                "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>",
            ),
            supports_files=True,
            file_tokens=("<|repo_name|>", "<|file_sep|>"),
        ),
        StarCoder2Fim(
            name="starcoder2",
            detect_tokens=("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
            stop=(
                "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                "<repo_name>", "<file_sep>",
            ),
            supports_files=True,
            file_tokens=("<repo_name>", "<file_sep>"),
        ),
        CodeLlamaFim(
            name="codellama",
            detect_tokens=("<PRE>", "<SUF>", "<MID>"),
            stop=("<PRE>", "<SUF>", "<MID>", "<EOT>", "</s>"),
            supports_files=False,
        ),
        DeepSeekCoderFim(
            name="deepseek-coder",
            detect_tokens=("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
            stop=(
                "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<|EOT|>", "<｜end▁of▁sentence｜>",
            ),
            supports_files=False,
        ),
        CodestralFim(
            name="codestral",
            detect_tokens=("[SUFFIX]", "[PREFIX]"),
            stop=("[PREFIX]", "[SUFFIX]", "[MIDDLE]", "</s>"),
            supports_files=False,
        ),
        CodeGemmaFim(
            name="codegemma",
            detect_tokens=(*_QWEN_FIM, "<|file_separator|>"),
            stop=(
                "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>",
                "<end_of_turn>", "<eos>",
            ),
            supports_files=True,
            file_tokens=("<|file_separator|>",),
        ),
    )
}


def _vocabulary(special_tokens: Iterable[str]) -> set[str]:
    tokens = set()
    for token in special_tokens:
        tokens.add(token)
        tokens.add(token.lstrip(_SENTENCEPIECE_SPACE + " "))
    return tokens


def detect_family(special_tokens: Iterable[str]) -> FimFamily | None:
    """The family whose tokens the vocabulary has, most specific first; None without FIM tokens."""
    vocabulary = _vocabulary(special_tokens)
    matches = [f for f in FAMILIES.values() if all(t in vocabulary for t in f.detect_tokens)]
    if not matches:
        return None
    # max() keeps the first of equals, so ties follow the order of FAMILIES.
    family = max(matches, key=lambda f: len(f.detect_tokens))
    if family.supports_files and not all(t in vocabulary for t in family.file_tokens):
        family = dataclasses.replace(family, supports_files=False)
    return family


def get_family(name: str) -> FimFamily:
    """The family a configuration names (``fim_family``), instead of detecting it."""
    try:
        return FAMILIES[name.strip().lower()]
    except KeyError:
        valid = ", ".join(FAMILIES)
        raise ValueError(f"unknown FIM family {name!r}; valid names: {valid}") from None


@dataclass(frozen=True)
class FimPrompt:
    prompt: str
    stop: list[str]
    family: str | None  # None: the prefix-only fallback


def _first_nonblank_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def render_fim(
    family: FimFamily | None,
    prefix: str,
    suffix: str,
    files: Sequence[FileSnippet] = (),
    repo_name: str | None = None,
    path: str | None = None,
) -> FimPrompt:
    """The prompt and stop sequences of one FIM request (see the module docstring)."""
    if family is None:
        suffix_line = _first_nonblank_line(suffix)
        return FimPrompt(prompt=prefix, stop=[suffix_line] if suffix_line else [], family=None)
    prompt = family.render(prefix, suffix, files=files, repo_name=repo_name, path=path)
    return FimPrompt(prompt=prompt, stop=list(family.stop), family=family.name)

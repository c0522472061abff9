"""Text into chunks with LangChain's text splitters: per-language separators for Markdown,
reStructuredText and source files, plain paragraphs for text and PDF pages (read by
reader.py, in a process of its own)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gateway.knowledge.store import INSTALL, KnowledgeUnavailable

# File suffix → LangChain's Language name (None: plain text separators).
SUFFIXES: dict[str, Optional[str]] = {
    ".txt": None, ".text": None, ".log": None, ".csv": None, ".pdf": None,
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rst", ".tex": "latex", ".html": "html", ".htm": "html",
    ".py": "python", ".js": "js", ".mjs": "js", ".jsx": "js", ".ts": "ts", ".tsx": "ts",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".scala": "scala",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".rb": "ruby", ".php": "php", ".swift": "swift", ".lua": "lua", ".sol": "sol",
    ".ex": "elixir", ".exs": "elixir", ".hs": "haskell", ".ps1": "powershell",
    ".sh": None, ".toml": None, ".yaml": None, ".yml": None, ".json": None, ".ini": None, ".cfg": None,
}


@dataclass
class Chunk:
    text: str
    page: Optional[int] = None  # PDF page, from 1
    start: int = 0  # character offset in the file's (or page's) text


def indexable(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _splitter(suffix: str, size: int, overlap: int):
    try:
        from langchain_text_splitters import Language, RecursiveCharacterTextSplitter
    except ImportError:
        raise KnowledgeUnavailable(f"indexing needs langchain-text-splitters: {INSTALL}") from None
    language = SUFFIXES.get(suffix)
    if language is None:
        return RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, add_start_index=True)
    return RecursiveCharacterTextSplitter.from_language(
        Language(language), chunk_size=size, chunk_overlap=overlap, add_start_index=True
    )


def split_texts(suffix: str, texts: list[tuple[Optional[int], str]], size: int, overlap: int) -> list[Chunk]:
    """Texts (with their PDF page, or None) into chunks; chunks of only whitespace are dropped."""
    splitter = _splitter(suffix, size, overlap)
    chunks = []
    for page, text in texts:
        # Documents would carry a metadata dict per chunk; plain strings and the offsets
        # (found as LangChain's add_start_index finds them) keep a 200 MB file's chunks small.
        index, previous = 0, 0
        for piece in splitter.split_text(text):
            index = text.find(piece, max(0, index + previous - overlap))
            previous = len(piece)
            if piece.strip():
                chunks.append(Chunk(piece, page, max(index, 0)))
    return chunks

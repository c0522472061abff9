"""Documents into chunks with LangChain's text splitters: per-language separators for
Markdown, reStructuredText and source files, plain paragraphs for text; PDF text via pypdf."""
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


def _pages(path: Path) -> list[str]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise KnowledgeUnavailable(f"indexing PDF needs pypdf: {INSTALL}") from None
    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def split_file(path: Path, data: bytes, size: int, overlap: int) -> list[Chunk]:
    """The file's chunks; a file that is not text (a NUL byte, or not UTF-8) has none."""
    suffix = path.suffix.lower()
    splitter = _splitter(suffix, size, overlap)
    if suffix == ".pdf":
        texts = [(i + 1, t) for i, t in enumerate(_pages(path))]
    else:
        if b"\0" in data[:8192]:
            return []
        try:
            texts = [(None, data.decode("utf-8"))]
        except UnicodeDecodeError:
            return []
    chunks = []
    for page, text in texts:
        for doc in splitter.create_documents([text]):
            if doc.page_content.strip():
                chunks.append(Chunk(doc.page_content, page, doc.metadata.get("start_index", 0)))
    return chunks

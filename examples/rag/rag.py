"""The private knowledge base in three steps, with the ecosystem's own tools against the
gateway's OpenAI API: Chroma's OpenAI embedding function on /v1/embeddings, LangChain's
ChatOpenAI on /v1/chat/completions.

    oss-sidecar serve &
    python examples/rag/rag.py --docs docs/ --question "How do I change the port?"
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import chromadb
from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction
from langchain_openai import ChatOpenAI
from langchain_text_splitters import RecursiveCharacterTextSplitter
from openai import OpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", default="unused")
    parser.add_argument("--docs", required=True, help="a folder of .md / .txt / .rst files (and its subfolders)")
    parser.add_argument("--question", required=True)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=200)
    args = parser.parse_args()

    # The gateway lists its chat model first and its embedding model (with "dimensions") after;
    # `max_model_len` (as vLLM names it) is the embedding model's window in tokens.
    models = OpenAI(base_url=args.base_url, api_key=args.api_key).models.list().data
    chat_model = models[0].id
    embedder = next(m for m in models if (m.model_extra or {}).get("dimensions"))
    embedding_model, window = embedder.id, embedder.model_extra.get("max_model_len") or 256

    # 1. Embed the documents with the gateway's embedding model, into Chroma.
    embed = OpenAIEmbeddingFunction(api_key=args.api_key, api_base=args.base_url, model_name=embedding_model)
    store = chromadb.PersistentClient(path=tempfile.mkdtemp(prefix="rag-example-"))
    collection = store.create_collection("docs", embedding_function=embed, metadata={"hnsw:space": "cosine"})
    # Every chunk must fit the embedding model's window (a longer input is a 400). A client
    # cannot see the server's tokenizer, but no tokenizer makes more tokens than UTF-8 bytes
    # (each token covers at least one byte): chunks counted in bytes always fit, with room
    # for the model's own start and end tokens.
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=window - 4, chunk_overlap=window // 8, length_function=lambda text: len(text.encode())
    )
    files = [p for p in sorted(Path(args.docs).rglob("*")) if p.suffix in (".md", ".txt", ".rst")]
    for path in files:
        chunks = splitter.split_text(path.read_text(encoding="utf-8", errors="replace"))
        if chunks:
            collection.add(
                ids=[f"{path}:{i}" for i in range(len(chunks))],
                documents=chunks,
                metadatas=[{"source": str(path)} for _ in chunks],
            )
    print(f"indexed {collection.count()} chunks from {len(files)} files")

    # 2. Retrieve the chunks nearest to the question.
    hits = collection.query(query_texts=[args.question], n_results=args.top_k)
    references = list(zip(hits["documents"][0], hits["metadatas"][0]))

    # 3. Prepend them to the question and ask the chat model.
    prompt = "\n\n".join(f"[ref {i}] ({Path(m['source']).name})\n{doc}" for i, (doc, m) in enumerate(references, 1))
    prompt += f"\n\nquestion: {args.question}"
    llm = ChatOpenAI(base_url=args.base_url, api_key=args.api_key, model=chat_model, max_tokens=args.max_tokens)
    answer = llm.invoke(
        [("system", "Answer from the references; cite them as [ref N]."), ("user", prompt)]
    )
    print(answer.content)
    for i, (_, meta) in enumerate(references, 1):
        print(f"[ref {i}] {meta['source']}")


if __name__ == "__main__":
    main()

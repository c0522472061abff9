"""The knowledge base: documents split into chunks (chunking.py), embedded by the gateway's
embedding model and kept in Chroma (store.py) by `oss-sidecar index` (indexer.py); chat
requests that opt in get the nearest chunks as numbered references (retrieval.py, prompt.py).
Chroma and the splitters are the optional extra oss-sidecar[rag]."""

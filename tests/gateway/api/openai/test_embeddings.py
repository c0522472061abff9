"""POST /v1/embeddings on the embedded default embedding model (all-MiniLM-L6-v2), through
the clients people use: the openai SDK, LangChain's OpenAIEmbeddings, Chroma's OpenAI
embedding function; and against the model's reference implementation where it is installed."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import math
import urllib.request

import pytest

openai = pytest.importorskip("openai")

KEY = "test-key"
MODEL = "all-MiniLM-L6-v2"
MAX_BATCH = 40

PARAPHRASES = [
    ("How do I reset my password?", "What are the steps to change a forgotten password?"),
    ("The train was late this morning.", "This morning the train arrived behind schedule."),
]
UNRELATED = [
    ("How do I reset my password?", "Volcanic ash can disrupt air travel for days."),
    ("The train was late this morning.", "Bake the bread at 220 degrees for thirty minutes."),
]


def cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def gw(start_gateway):
    # One gateway for the module: behind an API key (embeddings take keys as chat does) and a
    # small batch limit (so the limit is cheap to cross).
    return start_gateway("--api-key", KEY, env={"OSS_SIDECAR_EMBEDDINGS__MAX_BATCH": str(MAX_BATCH)})


@pytest.fixture(scope="module")
def client(gw):
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


def _post(gw, body: dict, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(gw.base_url + "/embeddings", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_float_and_base64_are_the_same_vectors(client):
    texts = ["The quick brown fox jumps over the lazy dog.", "def add(a, b): return a + b"]
    floats = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    # The SDK asks for base64 by default and decodes it itself.
    default = client.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.model == MODEL
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 2 * 2
    for a, b in zip(floats.data, default.data):
        assert len(a.embedding) == 384
        assert max(abs(x - y) for x, y in zip(a.embedding, b.embedding)) < 1e-6
        assert abs(math.sqrt(sum(x * x for x in a.embedding)) - 1) < 1e-4


def test_base64_is_little_endian_float32(gw):
    status, body = _post(gw, {"model": MODEL, "input": "hello world", "encoding_format": "base64"})
    assert status == 200
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert len(raw) == 384 * 4


def test_paraphrases_are_closer_than_unrelated_pairs(client):
    flat = [t for pair in PARAPHRASES + UNRELATED for t in pair]
    vectors = [d.embedding for d in client.embeddings.create(model=MODEL, input=flat).data]
    pairs = [cosine(vectors[i], vectors[i + 1]) for i in range(0, len(vectors), 2)]
    close, far = pairs[: len(PARAPHRASES)], pairs[len(PARAPHRASES):]
    assert min(close) > max(far) + 0.3, (close, far)


def test_token_arrays_embed_like_the_text(client):
    # OpenAI's cl100k_base ids of "hello world" (tiktoken's), read as OpenAI reads them; the
    # model's own tokens are counted.
    text = client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    ids = client.embeddings.create(model=MODEL, input=[[15339, 1917]], encoding_format="float")
    one = client.embeddings.create(model=MODEL, input=[15339, 1917], encoding_format="float")
    assert cosine(text.data[0].embedding, ids.data[0].embedding) > 0.99999
    assert cosine(one.data[0].embedding, ids.data[0].embedding) > 0.99999
    assert ids.usage.prompt_tokens == text.usage.prompt_tokens == 4


def test_too_long_is_a_400_unless_truncation_is_asked_for(gw, client):
    long_text = "word " * 400
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=MODEL, input=["short", long_text])
    assert err.value.code == "context_length_exceeded"
    assert "input[1]" in err.value.message and "truncate_prompt_tokens" in err.value.message
    status, body = _post(gw, {"model": MODEL, "input": long_text, "truncate_prompt_tokens": 128})
    assert status == 200 and body["usage"]["prompt_tokens"] == 128
    # Truncating to the window keeps the first tokens: the same vector as the text cut there.
    _, whole = _post(gw, {"model": MODEL, "input": long_text, "truncate_prompt_tokens": 256})
    _, cut = _post(gw, {"model": MODEL, "input": "word " * 254})
    assert cosine(whole["data"][0]["embedding"], cut["data"][0]["embedding"]) > 0.99999


@pytest.mark.parametrize(
    "body, param, fragment",
    [
        ({"input": "x", "dimensions": 128}, "dimensions", "Matryoshka"),
        ({"input": []}, "input", "non-empty"),
        ({"input": [1, "a"]}, "input", "token ids"),
        ({"input": [[5, 100300]]}, "input", "outside OpenAI's cl100k_base"),
        ({"input": ["x"] * (MAX_BATCH + 1)}, "input", "embeddings.max_batch"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format", ""),
        ({"input": "x", "truncate_prompt_tokens": 9999}, "truncate_prompt_tokens", "window"),
    ],
)
def test_bad_requests_name_the_field(gw, body, param, fragment):
    status, answer = _post(gw, {"model": MODEL, **body})
    assert status == 400, answer
    assert answer["error"]["param"] == param
    assert fragment in answer["error"]["message"]


def test_native_dimensions_are_accepted(client):
    answer = client.embeddings.create(model=MODEL, input="x", dimensions=384, encoding_format="float")
    assert len(answer.data[0].embedding) == 384


def test_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert err.value.code == "model_not_found"


def test_api_key_is_required(gw):
    status, answer = _post(gw, {"model": MODEL, "input": "x"}, key=None)
    assert status == 401 and answer["error"]["code"] == "invalid_api_key"


def test_models_stats_and_metrics_show_the_embedding_model(gw, client):
    ids = {m.id: m for m in client.models.list().data}
    assert MODEL in ids and len(ids) == 2
    assert ids[MODEL].model_extra["dimensions"] == 384
    assert ids[MODEL].model_extra["max_model_len"] == 256
    client.embeddings.create(model=MODEL, input=["a", "b", "c"])
    req = urllib.request.Request(gw.base_url + "/stats", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        stats = json.loads(resp.read())["embeddings"]
    assert stats["status"] == "ready" and stats["runtime"] == "llamacpp"
    assert stats["inputs_total"] >= 3 and stats["last"]["inputs"] == 3
    metrics = gw.metrics_text()
    assert "oss_sidecar_embedding_inputs_total" in metrics
    assert "oss_sidecar_embedding_ready 1.0" in metrics


@pytest.fixture
def tiktoken_offline(tmp_path, monkeypatch):
    """tiktoken's cl100k_base file where tiktoken looks before downloading it (no network here),
    written from the copy the gateway reads (quicktok-v1's, checked against tiktoken's sha256)."""
    from gateway.embeddings import cl100k

    text = b"".join(base64.b64encode(piece) + b" %d\n" % rank for rank, piece in enumerate(cl100k.pieces()))
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(text)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))


def test_langchain_openai_embeddings_defaults(gw, tiktoken_offline):
    """OpenAIEmbeddings as LangChain's docs write it: it sends tiktoken's cl100k ids, not text,
    and gets the vectors of the text."""
    lc = pytest.importorskip("langchain_openai")
    import httpx

    sent = []
    capture = httpx.Client(event_hooks={"request": [lambda r: sent.append(json.loads(r.content))]})
    emb = lc.OpenAIEmbeddings(model=MODEL, base_url=gw.base_url, api_key=KEY, http_client=capture)
    texts = ["Chroma stores vectors.", "hi"]
    docs = emb.embed_documents(texts)
    assert all(isinstance(ids, list) and all(isinstance(t, int) for t in ids) for ids in sent[0]["input"])
    as_text = lc.OpenAIEmbeddings(model=MODEL, base_url=gw.base_url, api_key=KEY, check_embedding_ctx_length=False)
    for vector, text_vector in zip(docs, as_text.embed_documents(texts)):
        assert cosine(vector, text_vector) > 0.9999


def test_langchain_openai_embeddings(gw):
    lc = pytest.importorskip("langchain_openai")
    # check_embedding_ctx_length=False: send text, not tiktoken ids (an OpenAI-model tokenizer).
    emb = lc.OpenAIEmbeddings(model=MODEL, base_url=gw.base_url, api_key=KEY, check_embedding_ctx_length=False)
    docs = emb.embed_documents(["Chroma stores vectors.", "LangChain calls models."])
    query = emb.embed_query("Where are vectors stored?")
    assert len(docs) == 2 and len(query) == 384
    assert cosine(query, docs[0]) > cosine(query, docs[1])


def test_chroma_openai_embedding_function(gw, tmp_path):
    chromadb = pytest.importorskip("chromadb")
    from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction

    ef = OpenAIEmbeddingFunction(api_key=KEY, model_name=MODEL, api_base=gw.base_url)
    store = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    collection = store.create_collection("docs", embedding_function=ef)
    collection.add(ids=["a", "b"], documents=["Cats purr when content.", "Compilers translate source code."])
    hits = collection.query(query_texts=["Which program turns code into machine instructions?"], n_results=1)
    assert hits["ids"] == [["b"]]


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="the reference implementation (sentence-transformers, with torch) is not installed; "
    "pip install sentence-transformers torch to compare against it",
)
def test_vectors_match_the_reference_implementation(client, tmp_path):
    import zipfile

    from sentence_transformers import SentenceTransformer

    from gateway.embeddings.default_model import archive_path

    with zipfile.ZipFile(archive_path()) as archive:
        archive.extractall(tmp_path / "model")
    reference = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    texts = [
        "hello world",
        "Straße naïve café — résumé 中文",
        "def foo(x):\n    return x ** 2  # squares",
        "The quick brown fox jumps over the lazy dog. " * 30,  # past 256 tokens: both cut at 256
    ]
    expected = reference.encode(texts, normalize_embeddings=True)
    got = client.embeddings.create(model=MODEL, input=texts[:3], encoding_format="float").data
    got += client.embeddings.create(model=MODEL, input=texts[3:], extra_body={"truncate_prompt_tokens": 256}).data
    for want, have in zip(expected, got):
        assert cosine(list(map(float, want)), have.embedding) > 1 - 1e-4

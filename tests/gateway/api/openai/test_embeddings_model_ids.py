"""embeddings.token_ids: model — token-id inputs read as the embedding model's own vocabulary,
as vLLM reads them (the default reads them as OpenAI's cl100k_base: test_embeddings.py)."""
from __future__ import annotations

import math

import pytest

openai = pytest.importorskip("openai")

MODEL = "all-MiniLM-L6-v2"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def client(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_EMBEDDINGS__TOKEN_IDS": "model"})
    return openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)


def test_model_ids_embed_like_the_text(client):
    # BERT's uncased WordPiece ids of "hello world"; the gateway adds [CLS] and [SEP] as it does to text.
    text = client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    ids = client.embeddings.create(model=MODEL, input=[[7592, 2088]], encoding_format="float")
    assert cosine(text.data[0].embedding, ids.data[0].embedding) > 0.99999
    assert ids.usage.prompt_tokens == text.usage.prompt_tokens == 4


def test_an_id_outside_the_models_vocabulary_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=MODEL, input=[[5, 99999]])
    assert "outside the model's vocabulary" in err.value.message and err.value.body["param"] == "input"

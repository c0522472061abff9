"""Ollama's API on the real gateway, through the clients written for Ollama: the official
`ollama` Python package and LangChain's `ChatOllama`; errors as the client's ResponseError.

One gateway for the module, listening on a second port (server.ollama_port) as well; the
clients talk to that port, as they would to Ollama's 11434.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time

import math

import aiohttp
import httpx
import ollama
import pytest
from langchain_ollama import ChatOllama
from pydantic import BaseModel, ConfigDict, Field

MODEL = "SmolLM2-135M-Instruct.Q4_1"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gw(start_gateway):
    port = free_port()
    gateway = start_gateway("--ollama-port", str(port))
    gateway.ollama_url = f"http://127.0.0.1:{port}"
    return gateway


@pytest.fixture(scope="module")
def client(gw) -> ollama.Client:
    return ollama.Client(host=gw.ollama_url)


def _error(call) -> ollama.ResponseError:
    with pytest.raises(ollama.ResponseError) as info:
        call()
    return info.value


# ---- model listing ------------------------------------------------------------------------
def test_version_list_show_ps(gw, client):
    assert re.fullmatch(r"\d+\.\d+\.\d+", httpx.get(gw.ollama_url + "/api/version").json()["version"])
    models = client.list().models
    assert [m.model for m in models] == [f"{MODEL}:latest", f"{EMBEDDING_MODEL}:latest"]
    assert len(models[0].digest) == 64 and models[0].modified_at is not None
    assert models[1].digest != models[0].digest

    shown = client.show(MODEL)
    assert shown.modelinfo["general.context_length"] == 8192
    # The default model's template shows it tools: "tools"; SmolLM2 has no FIM tokens: no "insert".
    assert shown.capabilities == ["completion", "tools"]
    listed = httpx.get(gw.ollama_url + "/api/tags").json()["models"]
    assert [m["capabilities"] for m in listed] == [shown.capabilities, ["embedding"]]
    embedder = client.show(EMBEDDING_MODEL)
    assert embedder.capabilities == ["embedding"]
    assert embedder.modelinfo["general.embedding_length"] == 384 and embedder.modelinfo["general.context_length"] == 256
    assert ".Suffix" not in shown.template  # so Continue renders its own FIM prompt
    assert client.show(f"{MODEL}:latest").modelinfo == shown.modelinfo

    running = client.ps().models
    assert [m.name for m in running] == [f"{MODEL}:latest"]
    assert running[0].size > 0 and running[0].size_vram == 0 and running[0].context_length == 8192


def test_same_app_on_both_ports(gw):
    for base in (gw.url, gw.ollama_url):
        assert httpx.get(base + "/api/tags").json()["models"][0]["name"] == f"{MODEL}:latest"
        assert httpx.get(base + "/v1/models").json()["data"][0]["id"] == MODEL


def test_openai_routes_on_the_ollama_port_take_the_tagged_name(gw):
    """Codex's `--oss` (and other Ollama clients' OpenAI mode) call /v1/* on the Ollama port with
    the name as Ollama lists it."""
    import openai

    client = openai.OpenAI(base_url=gw.ollama_url + "/v1", api_key="ollama", max_retries=0)
    for name in (MODEL, f"{MODEL}:latest"):
        done = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
        assert done.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=f"{MODEL}:7b", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)


# ---- pull -----------------------------------------------------------------------------------
def test_pull_of_a_served_model_answers_ollamas_success(gw, client):
    """Nothing is downloaded: the served models are here, so a pull (which Codex's `--oss` makes
    before it uses a model) is Ollama's stream for a model that is up to date."""
    for name in (MODEL, f"{MODEL}:latest", EMBEDDING_MODEL):
        assert client.pull(name).status == "success"
    statuses = [part.status for part in client.pull(MODEL, stream=True)]
    assert statuses == ["pulling manifest", "verifying sha256 digest", "writing manifest", "success"]
    r = httpx.post(gw.ollama_url + "/api/pull", json={"name": MODEL, "stream": False, "insecure": True})
    assert r.status_code == 200 and r.json() == {"status": "success"}


def test_pull_of_another_model_is_ollamas_error(gw, client):
    for name in ("llama3.2", f"{MODEL}:7b"):
        e = _error(lambda: client.pull(name))
        assert e.status_code == 404 and e.error.startswith("pull model manifest: file does not exist"), e.error
        assert f"{MODEL}:latest" in e.error
    e = _error(lambda: list(client.pull("llama3.2", stream=True)))
    assert e.status_code == 404
    r = httpx.post(gw.ollama_url + "/api/pull", json={})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    r = httpx.post(gw.ollama_url + "/api/pull", json={"model": MODEL, "quantize": "q4"})
    assert (r.status_code, r.json()) == (400, {"error": "unknown field: quantize"})


def test_every_route_finds_the_model_with_or_without_its_tag(client):
    for name in (MODEL, f"{MODEL}:latest"):
        assert client.chat(model=name, messages=[{"role": "user", "content": "Hi"}], options={"num_predict": 1}).done
        assert client.generate(model=name, prompt="Hi", options={"num_predict": 1}).done
        assert client.show(name).capabilities
        assert client.pull(name).status == "success"
    for name in (EMBEDDING_MODEL, f"{EMBEDDING_MODEL}:latest"):
        assert len(client.embed(model=name, input="hi").embeddings[0]) == 384
        assert client.show(name).capabilities == ["embedding"]


# ---- chat ---------------------------------------------------------------------------------
def _check_final(final, eval_count=None):
    assert final.done is True and final.done_reason in ("stop", "length")
    for name in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count"):
        value = getattr(final, name)
        assert isinstance(value, int) and value > 0, (name, value)
    # From the first output to the end: 0 when the only token was the end of the text.
    assert isinstance(final.eval_duration, int) and (final.eval_duration > 0 or final.eval_count == 1)
    assert final.total_duration >= final.load_duration + final.prompt_eval_duration + final.eval_duration - 10**6
    if eval_count is not None:
        assert final.eval_count == eval_count


def test_chat_not_streamed(client):
    r = client.chat(model=MODEL, messages=[{"role": "user", "content": "Say hello."}], options={"num_predict": 6})
    assert r.message.role == "assistant" and r.message.content
    assert r.model == MODEL  # echoed as the client named it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", r.created_at)
    _check_final(r)
    if r.done_reason == "length":
        assert r.eval_count == 6


def test_chat_streamed(client):
    parts = list(client.chat(model=f"{MODEL}:latest", messages=[{"role": "user", "content": "Count: 1, 2,"}],
                             options={"num_predict": 5, "temperature": 0}, stream=True))
    *pieces, final = parts
    assert pieces and all(p.done is False and p.done_reason is None and p.eval_count is None for p in pieces)
    assert "".join(p.message.content for p in pieces)
    assert final.message.content == ""
    _check_final(final)
    assert final.eval_count == len(pieces) if final.done_reason == "length" else True


def test_chat_history_and_system(client):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "USER", "content": "Bye"},  # Ollama lower-cases roles
    ]
    r = client.chat(model=MODEL, messages=messages, options={"num_predict": 3})
    short = client.chat(model=MODEL, messages=messages[-1:], options={"num_predict": 3})
    assert r.prompt_eval_count > short.prompt_eval_count


def test_load_request(client):
    r = client.chat(model=MODEL, messages=[])
    assert r.done and r.done_reason == "load"
    g = client.generate(model=MODEL)
    assert g.done and g.done_reason == "load" and g.response == ""


# ---- generate -----------------------------------------------------------------------------
def test_generate_templated_raw_and_system(client):
    opts = {"num_predict": 2}
    templated = client.generate(model=MODEL, prompt="Why is the sky blue?", options=opts)
    raw = client.generate(model=MODEL, prompt="Why is the sky blue?", raw=True, options=opts)
    system = client.generate(model=MODEL, prompt="Why is the sky blue?", system="Answer in French.", options=opts)
    # The chat template wraps the prompt in the model's turn markers (SmolLM2's adds its own
    # system prompt when there is none); `system` replaces that one.
    assert raw.prompt_eval_count < templated.prompt_eval_count
    assert raw.prompt_eval_count < system.prompt_eval_count != templated.prompt_eval_count
    for r in (templated, raw, system):
        _check_final(r)


def test_generate_suffix_fills_the_middle(client):
    # SmolLM2 has no FIM tokens: the gateway's fallback stops at the suffix's first line.
    r = client.generate(model=MODEL, prompt="def fib(n):\n    ", suffix="\n\nprint(fib(10))\n",
                        options={"num_predict": 48, "temperature": 0})
    assert "print(fib(10))" not in r.response
    _check_final(r)
    streamed = list(client.generate(model=MODEL, prompt="def fib(n):\n    ", suffix="\n\nprint(fib(10))\n",
                                    options={"num_predict": 48, "temperature": 0}, stream=True))
    assert "".join(p.response for p in streamed[:-1]) == r.response  # temperature 0: the same text
    assert streamed[-1].done and streamed[-1].response == ""


def test_options_reach_the_engine(client):
    a = client.generate(model=MODEL, prompt="Once upon a time", raw=True,
                        options={"num_predict": 8, "temperature": 1.5, "seed": 7, "top_k": 100, "top_p": 1.0,
                                 "min_p": 0.0, "repeat_penalty": 1.1, "presence_penalty": 0.5,
                                 "frequency_penalty": 0.5})
    b = client.generate(model=MODEL, prompt="Once upon a time", raw=True,
                        options={"num_predict": 8, "temperature": 1.5, "seed": 7, "top_k": 100, "top_p": 1.0,
                                 "min_p": 0.0, "repeat_penalty": 1.1, "presence_penalty": 0.5,
                                 "frequency_penalty": 0.5})
    assert a.response == b.response and a.eval_count == 8  # seeded: reproducible; num_predict: the limit
    first_word = a.response.split()[0] if a.response.split() else None
    if first_word:
        stopped = client.generate(model=MODEL, prompt="Once upon a time", raw=True,
                                  options={"num_predict": 8, "temperature": 1.5, "seed": 7, "top_k": 100,
                                           "top_p": 1.0, "min_p": 0.0, "repeat_penalty": 1.1,
                                           "presence_penalty": 0.5, "frequency_penalty": 0.5,
                                           "stop": [first_word]})
        assert first_word not in stopped.response and stopped.done_reason == "stop"
    # Runner settings are accepted and ignored; num_ctx beyond the model's context is capped to it.
    ok = client.generate(model=MODEL, prompt="Hi", raw=True, keep_alive="5m",
                         options={"num_predict": 1, "num_ctx": 1_000_000, "num_gpu": 99, "num_thread": 2,
                                  "use_mmap": True, "num_batch": 8, "mirostat": 0, "typical_p": 1.0})
    _check_final(ok)


# ---- errors, as the client's ResponseError ---------------------------------------------------
def test_errors_are_ollama_bodies(client):
    e = _error(lambda: client.chat(model="llama3.2", messages=[{"role": "user", "content": "x"}]))
    assert (e.status_code, e.error) == (404, "model 'llama3.2' not found")
    e = _error(lambda: client.generate(model=f"{MODEL}:7b", prompt="x"))
    assert (e.status_code, e.error) == (404, f"model '{MODEL}:7b' not found")
    e = _error(lambda: client.show("nope"))
    assert (e.status_code, e.error) == (404, "model 'nope' not found")

    refused = {
        "images": lambda: client.generate(model=MODEL, prompt="x", images=[b"\x89PNG"]),
        "template": lambda: client.generate(model=MODEL, prompt="x", template="{{ .Prompt }}"),
        "raw mode": lambda: client.generate(model=MODEL, prompt="x", raw=True, system="s"),
        '"top_q"': lambda: client.generate(model=MODEL, prompt="x", options={"top_q": 1}),
        'option "temperature" must be of type float32': lambda: client.generate(model=MODEL, prompt="x", options={"temperature": "hot"}),
        '"typical_p"': lambda: client.generate(model=MODEL, prompt="x", options={"typical_p": 0.5}),
    }
    for field, call in refused.items():
        e = _error(call)
        assert e.status_code == 400 and field in e.error, (field, e.error)
    e = _error(lambda: client.chat(model=MODEL, messages=[{"role": "user", "content": "x", "images": [b"\x89PNG"]}]))
    assert e.status_code == 400 and "messages[0].images" in e.error


def test_a_prompt_over_the_window_is_ollamas_own_error(gw, client):
    """The serving core's ContextLengthExceeded in Ollama's words, with both token counts; an
    output limit above the window is clamped, never refused."""
    pattern = r"request \((\d+) tokens\) exceeds the available context size \(8192 tokens\), try increasing it"
    e = _error(lambda: client.generate(model=MODEL, prompt="word " * 9000, options={"num_predict": 5}))
    assert e.status_code == 400 and re.fullmatch(pattern, e.error) and int(re.fullmatch(pattern, e.error)[1]) > 8192
    # /api/chat trims the history unless truncate is false.
    r = httpx.post(gw.ollama_url + "/api/chat", json={
        "model": MODEL, "stream": False, "truncate": False, "messages": [{"role": "user", "content": "word " * 9000}]})
    assert r.status_code == 400 and re.fullmatch(pattern, r.json()["error"])
    done = client.generate(model=MODEL, prompt="Hi", options={"num_predict": 32000, "stop": ["\n"]})
    assert done.done


def test_malformed_requests(gw):
    def post(path, content):
        r = httpx.post(gw.ollama_url + path, content=content, headers={"Content-Type": "application/json"})
        return r.status_code, r.json()

    assert post("/api/chat", b"") == (400, {"error": "missing request body"})
    status, body = post("/api/chat", b"{not json")
    assert status == 400 and list(body) == ["error"] and "JSON" in body["error"]
    status, body = post("/api/generate", json.dumps({"model": MODEL, "prompt": "x", "n_predict": 3}).encode())
    assert (status, body) == (400, {"error": "unknown field: n_predict"})
    status, body = post("/api/chat", json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode())
    assert (status, body) == (400, {"error": "model is required"})
    status, body = post("/api/chat", json.dumps({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}).encode())
    assert status == 400 and "role" in body["error"]
    r = httpx.post(gw.ollama_url + "/api/push", json={"model": MODEL})
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint: POST /api/push"}


# ---- LangChain --------------------------------------------------------------------------------
def test_langchain_chat_ollama(gw):
    llm = ChatOllama(model=MODEL, base_url=gw.ollama_url, num_predict=8, temperature=0)
    answer = llm.invoke("Name a colour.")
    assert answer.content and answer.usage_metadata["output_tokens"] > 0
    assert answer.response_metadata["done_reason"] in ("stop", "length")
    chunks = list(llm.stream("Name a fruit."))
    assert "".join(c.content for c in chunks) and len(chunks) > 1


# ---- structured output: format -------------------------------------------------------------
class City(BaseModel):
    model_config = ConfigDict(extra="forbid")  # additionalProperties: false, so the object ends

    name: str = Field(max_length=24)
    population_millions: int = Field(ge=0, le=1000)  # bounded: the number ends


def test_format_json_answers_a_json_object(client):
    r = client.chat(model=MODEL, messages=[{"role": "user", "content": "Give me a JSON object with a key a."}],
                    format="json", options={"num_predict": 80, "temperature": 0})
    assert r.done_reason == "stop"
    assert isinstance(json.loads(r.message.content), dict)


def test_format_schema_of_a_pydantic_model(client):
    """Constrained to the schema, even this tiny model answers JSON that validates, on every path:
    chat (streamed and not), a chat-templated generate, and raw completion."""
    ask = [{"role": "user", "content": "Describe Paris as JSON."}]
    opts = {"num_predict": 80, "temperature": 0}
    r = client.chat(model=MODEL, messages=ask, format=City.model_json_schema(), options=opts)
    assert r.done_reason == "stop"
    City.model_validate_json(r.message.content)
    streamed = list(client.chat(model=MODEL, messages=ask, format=City.model_json_schema(), options=opts, stream=True))
    assert "".join(part.message.content for part in streamed) == r.message.content  # temperature 0
    templated = client.generate(model=MODEL, prompt="Describe Paris as JSON.", format=City.model_json_schema(),
                                options=opts)
    City.model_validate_json(templated.response)
    raw = client.generate(model=MODEL, prompt="A city, as JSON: ", raw=True, format=City.model_json_schema(),
                          options=opts)
    City.model_validate_json(raw.response)


def test_invalid_schemas_are_400s_naming_the_field(client):
    e = _error(lambda: client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                   format={"type": "nonsense"}))
    assert e.status_code == 400 and e.error.startswith("format: not a valid JSON Schema")
    e = _error(lambda: client.generate(model=MODEL, prompt="x", format={"type": "object", "required": 3}))
    assert e.status_code == 400 and e.error.startswith("format:")
    bad_tool = {"type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}}
    e = _error(lambda: client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[bad_tool]))
    assert e.status_code == 400 and e.error.startswith("tools[0].function.parameters:")


def test_langchain_structured_output(gw):
    llm = ChatOllama(model=MODEL, base_url=gw.ollama_url, num_predict=80, temperature=0)
    city = llm.with_structured_output(City, method="json_schema").invoke("Describe Paris.")
    assert isinstance(city, City)


# ---- tools ----------------------------------------------------------------------------------
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
      city: The city's name
    """
    return f"18 degrees and sunny in {city}"


def _asked(city: str) -> list[dict]:
    return [{"role": "user", "content": f"What is the weather in {city}?"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                             "arguments": {"city": city}}}]}]


# Ollama has no tool_choice, and SmolLM2-135M rarely calls a tool on its own; a history in which
# it called the tool twice before (Ollama's own shape: calls without ids) makes it call again.
ASK_WEATHER = [*_asked("Rome"), *_asked("Oslo"), {"role": "user", "content": "What is the weather in Paris?"}]


def test_tool_call_round_trip(client):
    r = client.chat(model=MODEL, messages=ASK_WEATHER, tools=[get_weather], options={"num_predict": 40, "temperature": 0})
    assert r.done_reason == "stop"  # as Ollama ends a call
    (call,) = r.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, dict) and set(call.function.arguments) == {"city"}
    result = get_weather(**call.function.arguments)
    follow = client.chat(model=MODEL, tools=[get_weather], options={"num_predict": 16, "temperature": 0},
                         messages=[*ASK_WEATHER, r.message, {"role": "tool", "tool_name": "get_weather", "content": result}])
    assert follow.done and follow.prompt_eval_count > r.prompt_eval_count + 8  # the call and its result went in
    assert follow.message.content or follow.message.tool_calls


def test_streamed_tool_call_comes_whole_in_one_line(client):
    whole = client.chat(model=MODEL, messages=ASK_WEATHER, tools=[get_weather],
                        options={"num_predict": 40, "temperature": 0})
    parts = list(client.chat(model=MODEL, messages=ASK_WEATHER, tools=[get_weather],
                             options={"num_predict": 40, "temperature": 0}, stream=True))
    with_calls = [part for part in parts if part.message.tool_calls]
    assert len(with_calls) == 1 and not with_calls[0].done
    assert with_calls[0].message.tool_calls == whole.message.tool_calls  # arguments complete, not pieces
    assert parts[-1].done and parts[-1].done_reason == "stop"


def test_tool_call_history_with_ids_as_langchain_sends_it(gw):
    """LangChain's ChatOllama sends calls with `type` and `id` and tool results with `tool_call_id`."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    llm = ChatOllama(model=MODEL, base_url=gw.ollama_url, num_predict=8, temperature=0).bind_tools([get_weather])
    history = [HumanMessage("What is the weather in Rome?"),
               AIMessage("", tool_calls=[{"id": "call_rome", "name": "get_weather", "args": {"city": "Rome"}}]),
               ToolMessage("20 degrees", tool_call_id="call_rome"),
               HumanMessage("And how is that in Fahrenheit?")]
    answer = llm.invoke(history)
    assert answer.response_metadata["done_reason"] in ("stop", "length")


# ---- embeddings -----------------------------------------------------------------------------
def _cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_embed_and_the_legacy_embeddings(client):
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Quarterly revenue grew by four percent."]
    r = client.embed(model=f"{EMBEDDING_MODEL}:latest", input=texts)
    assert r.model == f"{EMBEDDING_MODEL}:latest" and len(r.embeddings) == 3
    assert all(len(v) == 384 for v in r.embeddings)
    assert r.prompt_eval_count > 3 * 2 and r.total_duration > 0
    cat, rug, revenue = r.embeddings
    assert _cosine(cat, rug) > _cosine(cat, revenue) + 0.3 and _cosine(cat, rug) > _cosine(rug, revenue) + 0.3
    one = client.embed(model=EMBEDDING_MODEL, input=texts[0]).embeddings
    legacy = client.embeddings(model=EMBEDDING_MODEL, prompt=texts[0]).embedding
    assert len(one) == 1 and _cosine(one[0], cat) > 0.9999 and _cosine(legacy, cat) > 0.9999
    # Longer than the model's 256-token window: cut to fit by default, a 400 naming truncate if not.
    assert client.embed(model=EMBEDDING_MODEL, input="word " * 600).prompt_eval_count == 256
    e = _error(lambda: client.embed(model=EMBEDDING_MODEL, input="word " * 600, truncate=False))
    assert e.status_code == 400 and "truncate" in e.error


def test_embed_errors(client):
    e = _error(lambda: client.embed(model=MODEL, input="x"))
    assert e.status_code == 400 and "does not support embeddings" in e.error and EMBEDDING_MODEL in e.error
    e = _error(lambda: client.embed(model="nomic-embed-text", input="x"))
    assert (e.status_code, e.error) == (404, "model 'nomic-embed-text' not found")
    e = _error(lambda: client.embed(model=EMBEDDING_MODEL, input="x", dimensions=64))
    assert e.status_code == 400 and e.error.startswith("dimensions:")
    assert client.embed(model=EMBEDDING_MODEL, input=[]).embeddings == []  # Ollama's load request


# ---- disconnect ---------------------------------------------------------------------------
async def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
async def test_client_disconnect_aborts_in_engine(gw, path):
    before = gw.stats()
    decodes_before = before["engine_counters"]["n_decode_total"]
    aborted_before = before["engine_counters"]["requests_aborted_total"]
    client = ollama.AsyncClient(host=gw.ollama_url)
    options = {"num_predict": 2000}
    if path == "/api/chat":
        stream = await client.chat(model=MODEL, messages=[{"role": "user", "content": "Count to a thousand."}],
                                   options=options, stream=True)
    else:
        stream = await client.generate(model=MODEL, prompt="1, 2, 3,", raw=True, options=options, stream=True)
    received = 0
    async for part in stream:
        received += 1
        if received == 3:
            break
    await stream.aclose()  # the client goes away mid-stream
    await client._client.aclose()

    def released():
        s = gw.stats()
        c = s["engine_counters"]
        return s if c["requests_processing"] == 0 and c["requests_aborted_total"] >= aborted_before + 1 else None

    stats = await _wait_for(released)
    decodes = stats["engine_counters"]["n_decode_total"] - decodes_before
    assert received <= decodes < 60, decodes  # stopped a few tokens after the client left, not 2000
    assert stats["gateway_counters"]["requests_aborted_total"] == before["gateway_counters"]["requests_aborted_total"] + 1
    await asyncio.sleep(1.0)
    assert gw.stats()["engine_counters"]["n_decode_total"] - decodes_before == decodes


# ---- API keys, the body limit and admission apply to /api/* as to /v1/* --------------------------
async def test_api_key_body_limit_and_admission(start_gateway):
    gw = start_gateway("--api-key", "sekrit", "--max-concurrency", "1", "--max-queue", "0",
                       env={"OSS_SIDECAR_SERVER__MAX_BODY_BYTES": "2048"})
    for path in ("/api/tags", "/api/version", "/api/ps"):
        r = httpx.get(gw.url + path)
        assert r.status_code == 401 and list(r.json()) == ["error"], (path, r.text)
    e = _error(lambda: ollama.Client(host=gw.url).chat(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    assert e.status_code == 401
    keyed = ollama.Client(host=gw.url, headers={"Authorization": "Bearer sekrit"})
    assert keyed.list().models[0].model == f"{MODEL}:latest"
    e = _error(lambda: keyed.generate(model=MODEL, prompt="x" * 4096))
    assert e.status_code == 413 and "server.max_body_bytes" in e.error
    assert httpx.get(gw.url + "/health").status_code == 200  # operator endpoints stay open

    # One slot, no queue: a second request while one generates gets 429, in Ollama's body.
    auth = {"Authorization": "Bearer sekrit"}
    body = {"model": MODEL, "prompt": "1, 2, 3,", "raw": True, "options": {"num_predict": 300}}
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.post(gw.url + "/api/generate", json=body) as running:
            assert running.status == 200
            await running.content.readline()  # generating now
            async with session.post(gw.url + "/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}) as second:
                assert second.status == 429 and second.headers["Retry-After"] == "1"
                assert list(await second.json()) == ["error"]


# ---- a second gateway: a model with FIM tokens, no embedding model ----------------------------
@pytest.fixture(scope="module")
def fim_client(start_gateway) -> ollama.Client:
    gw = start_gateway(env={"OSS_SIDECAR_MODEL__FIM_FAMILY": "qwen2.5-coder", "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false"})
    return ollama.Client(host=gw.url)


def test_fim_model_templated_prompt_and_show(fim_client):
    """With a FIM family (forced here with model.fim_family on SmolLM2), /api/show tells clients
    the server does FIM (Continue looks for `.Suffix`), and a prompt the client already rendered
    with the family's FIM tokens (twinny's codeqwen template) goes to the model as is, not
    wrapped in the chat template: it costs exactly the tokens of the same prompt sent raw."""
    client = fim_client
    shown = client.show(MODEL)
    assert shown.capabilities == ["completion", "tools", "insert"]
    assert "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>" in shown.template
    prompt = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"
    templated = client.generate(model=MODEL, prompt=prompt, options={"num_predict": 2})
    raw = client.generate(model=MODEL, prompt=prompt, raw=True, options={"num_predict": 2})
    plain = client.generate(model=MODEL, prompt="def add(a, b):", options={"num_predict": 2})
    raw_plain = client.generate(model=MODEL, prompt="def add(a, b):", raw=True, options={"num_predict": 2})
    assert templated.prompt_eval_count == raw.prompt_eval_count
    assert plain.prompt_eval_count > raw_plain.prompt_eval_count  # a plain prompt still gets the chat template


def test_embed_without_an_embedding_model(fim_client):
    assert [m.model for m in fim_client.list().models] == [f"{MODEL}:latest"]
    for call in (lambda: fim_client.embed(model=EMBEDDING_MODEL, input="x"),
                 lambda: fim_client.embeddings(model=EMBEDDING_MODEL, prompt="x")):
        e = _error(call)
        assert e.status_code == 404 and "embeddings.enabled is false" in e.error


def test_docs_snippet(gw, capsys):
    """docs/API.md's Ollama snippet, run as written, with this gateway's port and shorter limits."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[4] / "docs" / "API.md").read_text(encoding="utf-8")
    section = page.split("## Ollama API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'host="http://127.0.0.1:11434"' in code
    code = code.replace("http://127.0.0.1:11434", gw.ollama_url)
    code = code.replace('"num_predict": 64', '"num_predict": 8').replace('"num_predict": 48', '"num_predict": 16')
    exec(compile(code, "docs/API.md", "exec"), {})
    assert capsys.readouterr().out.strip()


# ---- logprobs, show's metadata, tagged names on /v1 -------------------------------------------
def test_logprobs_as_ollama_returns_them(client):
    """Ollama 0.12's shape: each line's `logprobs`, one entry per token, alternatives when asked."""
    r = client.chat(model=MODEL, messages=[{"role": "user", "content": "Say hello."}], logprobs=True, top_logprobs=2,
                    options={"num_predict": 4, "temperature": 0})
    assert len(r.logprobs) == r.eval_count
    assert "".join(e.token for e in r.logprobs) == r.message.content
    for e in r.logprobs:
        assert e.logprob <= 0 and len(e.top_logprobs) == 2 and e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob
    lines = list(client.generate(model=MODEL, prompt="Count: 1, 2,", logprobs=True, stream=True,
                                 options={"num_predict": 4, "temperature": 0}))
    entries = [e for line in lines for e in (line.logprobs or ())]
    assert "".join(e.token for e in entries) == "".join(line.response for line in lines)
    assert entries and all(e.logprob <= 0 and not e.top_logprobs for e in entries)
    plain = client.chat(model=MODEL, messages=[{"role": "user", "content": "Hi"}], options={"num_predict": 2})
    assert plain.logprobs is None
    assert _error(lambda: client.generate(model=MODEL, prompt="Hi", logprobs=True, top_logprobs=21)).status_code == 400


def test_show_and_tags_read_the_gguf(gw, client):
    shown = client.show(MODEL)
    details = shown.details
    assert (details.format, details.family, details.families) == ("gguf", "llama", ["llama"])
    assert (details.parameter_size, details.quantization_level) == ("134.52M", "Q4_1")
    info = shown.modelinfo
    assert info["general.architecture"] == "llama" and info["llama.context_length"] == 8192
    assert info["general.parameter_count"] == 134515008 and info["tokenizer.ggml.tokens"] is None
    listed, embedder = client.list().models
    assert listed.size > 50 * 2**20 and listed.details.quantization_level == "Q4_1"
    # The embedding model's GGUF (the packaged all-MiniLM-L6-v2, converted): a BERT.
    assert embedder.size > 10 * 2**20 and embedder.details.family == "bert"
    shown = client.show(EMBEDDING_MODEL)
    assert shown.details.format == "gguf" and shown.modelinfo["general.architecture"] == "bert"
    assert shown.modelinfo["general.embedding_length"] == 384 and shown.modelinfo["general.context_length"] == 256


def test_tagged_names_on_the_openai_routes(gw):
    """Ollama's /v1 routes take `name:latest` for every model, the embedding model's too."""
    import openai

    client = openai.OpenAI(base_url=gw.ollama_url + "/v1", api_key="ollama", max_retries=0)
    assert client.models.retrieve(f"{MODEL}:latest").id == MODEL
    assert client.models.retrieve(f"{EMBEDDING_MODEL}:latest").id == EMBEDDING_MODEL
    assert len(client.embeddings.create(model=f"{EMBEDDING_MODEL}:latest", input="hi").data[0].embedding) == 384
    assert client.completions.create(model=f"{MODEL}:latest", prompt="Hi", max_tokens=1).choices

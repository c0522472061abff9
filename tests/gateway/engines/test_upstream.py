"""The upstream engine on loopback: a gateway in front of three real embedded-engine gateways
(and in front of llama.cpp's own server, a foreign upstream). Proof comes from the upstreams'
own counters (/v1/stats), never from the front gateway's word alone."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from gateway.engines.upstream.ring import BoundedLoadRing
from llamacpp_server import running_llamacpp_server
from tests.conftest import ROOT

MODEL = "SmolLM2-135M-Instruct.Q4_1"
COUNTER = re.compile(r'^(upstream_[a-z_]+)\{server="([^"]+)"\}$')


def _tokenizer_dir() -> Path | None:
    """The embedded model's Hugging Face tokenizer: the front gateway here counts with it
    (`upstream.tokenizer`, which wins over the upstreams' own /tokenize; test_upstream_chain.py
    chains without it); shared/ lies beside the checkout in CI."""
    for cand in (os.environ.get("OSS_SIDECAR_TEST_TOKENIZER_DIR"), ROOT.parent / "shared" / "device" / "tokenizer-smollm2",
                 ROOT / "shared" / "device" / "tokenizer-smollm2"):
        if cand and (Path(cand) / "tokenizer.json").is_file():
            return Path(cand)
    return None


TOKENIZER = _tokenizer_dir()
pytestmark = pytest.mark.skipif(TOKENIZER is None, reason="no SmolLM2 tokenizer.json (shared/device/tokenizer-smollm2)")


def per_server(gw) -> dict[str, dict[str, float]]:
    """The front gateway's upstream counters, by server URL."""
    out: dict[str, dict[str, float]] = {}
    for key, value in gw.stats()["engine_counters"].items():
        match = COUNTER.match(key)
        if match:
            out.setdefault(match.group(2), {})[match.group(1)] = value
    return out


async def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout} s")


def write_config(path: Path, servers: list[str], tokenizer: Path | None) -> Path:
    lines = ["engine: upstream", "upstream:", "  servers:"] + [f"    - url: {url}" for url in servers]
    if tokenizer is not None:
        lines.append(f"  tokenizer: {tokenizer}")
    # A short affinity key keeps the test prompts (and the test) short.
    lines += ["  health_interval_s: 0.5", "  connect_timeout_s: 2", "  affinity_prefix_chars: 64"]
    path.write_text("\n".join(lines) + "\n")
    return path


# Three replicas share this machine's cores: one llama.cpp thread each (more threads than cores
# make llama.cpp spin).
ONE_THREAD = {"OSS_SIDECAR_LLAMACPP__N_THREADS": "1"}


@pytest.fixture(scope="module")
def replicas(start_gateway):
    started = [start_gateway(env=ONE_THREAD, wait=False) for _ in range(3)]  # they load side by side
    return [gw.wait_ready() for gw in started]


@pytest.fixture(scope="module")
def front(start_gateway, replicas, tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("upstream") / "front.yaml", [r.url for r in replicas], TOKENIZER)
    return start_gateway("--config", str(config))


@pytest.fixture(scope="module")
def client(front):
    return openai.AsyncOpenAI(base_url=front.base_url, api_key="x", max_retries=0, timeout=120)


def replica_sum(replicas, section: str, key: str) -> float:
    return sum(r.stats()[section][key] for r in replicas)


# ---- the surface through the upstream engine -----------------------------------------------

async def test_models_and_stats_name_the_upstreams(front, replicas):
    stats = front.stats()
    assert stats["engine"] == "upstream" and stats["model"] == MODEL
    assert stats["context_length"] == replicas[0].stats()["context_length"]
    servers = per_server(front)
    assert set(servers) == {r.url for r in replicas}
    assert all(s["upstream_up"] == 1 for s in servers.values())
    metrics = front.metrics_text()
    for r in replicas:
        assert f'oss_sidecar_engine_upstream_up{{server="{r.url}"}} 1.0' in metrics


async def test_chat_streams_through_with_the_upstreams_usage(client, replicas):
    before = replica_sum(replicas, "gateway_counters", "requests_total")
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text and usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert replica_sum(replicas, "gateway_counters", "requests_total") == before + 1


async def test_completion_with_suffix_is_rendered_here(client, replicas):
    # The front gateway renders FIM into a raw prompt; the upstream gets no `suffix`.
    answer = await client.completions.create(
        model=MODEL, prompt="def add(a, b):\n    return", suffix="\n\nprint(add(1, 2))\n", max_tokens=8, temperature=0,
    )
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > 0


async def test_history_window_counts_like_the_upstream(client, front):
    """The local tokenizer and chat template count a conversation exactly as the upstream does:
    a window of exactly its prompt tokens keeps everything, one token less drops a turn."""
    messages = [{"role": "system", "content": "You answer briefly."}]
    for i in range(4):
        messages += [{"role": "user", "content": f"Question {i}: what is {i} plus {i}?"},
                     {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]
    messages.append({"role": "user", "content": "And 5 plus 5?"})
    full = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=1)
    exact = full.usage.prompt_tokens
    kept = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=1, extra_body={"truncate_prompt_tokens": exact})
    assert kept.headers.get("X-History-Trimmed") is None
    assert kept.parse().usage.prompt_tokens == exact
    cut = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=1, extra_body={"truncate_prompt_tokens": exact - 1})
    assert int(cut.headers["X-History-Trimmed"]) >= 1
    assert cut.parse().usage.prompt_tokens < exact


async def test_language_server_completes_through_the_upstream(front):
    """The language server's ghost text, with the front gateway as its gateway."""
    from tests.lsp.lsp_harness import sidecar

    uri = "file:///work/upstream_example.py"
    async with sidecar(front.url, maxTokens=8) as (lsp, _):
        await lsp.wait_status("ready", timeout=30)
        lsp.open(uri, "def add(a, b):\n    return \n")
        result = await lsp.inline(uri, 1, len("    return "))
        assert len(result.items) == 1, lsp.messages


async def test_client_disconnect_aborts_the_upstream_request(client, replicas, front):
    before = [r.stats() for r in replicas]
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count from one to one thousand."}],
        max_tokens=2000, stream=True, extra_body={"ignore_eos": True},
    )
    received = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    await stream.close()

    def aborted_upstream():
        now = [r.stats() for r in replicas]
        gateway_aborts = sum(n["gateway_counters"]["requests_aborted_total"] - b["gateway_counters"]["requests_aborted_total"]
                             for n, b in zip(now, before))
        engine_aborts = sum(n["engine_counters"]["requests_aborted_total"] - b["engine_counters"]["requests_aborted_total"]
                            for n, b in zip(now, before))
        idle = all(n["engine_counters"]["requests_processing"] == 0 for n in now)
        return now if gateway_aborts == 1 and engine_aborts == 1 and idle else None

    now = await wait_for(aborted_upstream, what="the upstream's own abort counters")
    # Its llama.cpp stopped decoding a few tokens after the client left, far from the 2000 asked for.
    decodes = sum(n["engine_counters"]["n_decode_total"] - b["engine_counters"]["n_decode_total"] for n, b in zip(now, before))
    assert decodes < 100, decodes
    assert front.stats()["gateway_counters"]["requests_aborted_total"] >= 1


# ---- routing --------------------------------------------------------------------------------

PREFIX = "# shared module header, the part an editor's window keeps while the user types below\n"


async def test_same_prefix_goes_to_the_same_replica(client, front):
    before = per_server(front)
    for i in range(5):
        await client.completions.create(model=MODEL, prompt=PREFIX + f"x{i} = ", max_tokens=1)
    after = per_server(front)
    moved = sorted(after[u]["upstream_requests_total"] - before[u]["upstream_requests_total"] for u in after)
    assert moved == [0, 0, 5]


async def test_different_prefixes_spread_over_replicas(client, front):
    before = per_server(front)
    for i in range(8):
        await client.completions.create(model=MODEL, prompt=f"# file number {i}: a module of its own, its own header line\n", max_tokens=1)
    after = per_server(front)
    used = [u for u in after if after[u]["upstream_requests_total"] > before[u]["upstream_requests_total"]]
    assert len(used) >= 2


async def test_a_hot_prefix_is_bounded_in_load(client, front):
    """Four concurrent requests with one prefix: no replica takes more than ceil(1.25 * 4 / 3) = 2;
    the overflow goes to the next replica on the ring, one replica for the whole overflow."""
    before = per_server(front)
    await asyncio.gather(*(
        client.completions.create(model=MODEL, prompt=PREFIX + "y = ", max_tokens=12, extra_body={"ignore_eos": True})
        for _ in range(4)
    ))
    after = per_server(front)
    moved = sorted(after[u]["upstream_requests_total"] - before[u]["upstream_requests_total"] for u in after)
    assert moved == [0, 2, 2]


# ---- llama.cpp's own server as the upstream ---------------------------------------------------

@pytest.fixture(scope="module")
def llamacpp_peer():
    """llama.cpp's own HTTP server in its own process (bench/llamacpp_peer.py), with a replica's
    slots and context: the gateway's embedded listener is private, not an upstream."""
    with running_llamacpp_server("--n-parallel", "4", "--n-threads", "1") as url:
        yield url


def peer_counters(url: str) -> dict[str, float]:
    """llama.cpp's own Prometheus counters, without the llamacpp: prefix."""
    import urllib.request

    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return {name.removeprefix("llamacpp:"): float(value)
            for name, _, value in (line.partition(" ") for line in text.splitlines() if line and line[0] != "#")}


@pytest.fixture(scope="module")
def llamacpp_front(start_gateway, llamacpp_peer, tmp_path_factory):
    """A front gateway over llama.cpp's own HTTP server: its /tokenize and /apply-template
    count; no tokenizer file is configured."""
    config = write_config(tmp_path_factory.mktemp("upstream") / "llamacpp.yaml", [llamacpp_peer], None)
    return start_gateway("--config", str(config))


async def test_llamacpp_server_as_upstream(llamacpp_front, replicas):
    client = openai.AsyncOpenAI(base_url=llamacpp_front.base_url, api_key="x", max_retries=0, timeout=120)
    # llama.cpp's server names the model by its file path; the front gateway serves that name.
    model = (await client.models.list()).data[0].id
    assert model.endswith(MODEL + ".gguf")
    assert llamacpp_front.stats()["context_length"] == replicas[1].stats()["context_length"]
    chat = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi!"}], max_tokens=4)
    assert chat.choices[0].message.content and chat.usage.prompt_tokens > 0
    fim = await client.completions.create(model=model, prompt="def f(x):\n    return", suffix="\n", max_tokens=4)
    assert fim.usage.completion_tokens > 0
    messages = [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "One."},
                {"role": "user", "content": "Two?"}]
    exact = (await client.chat.completions.create(model=model, messages=messages, max_tokens=1)).usage.prompt_tokens
    kept = await client.chat.completions.with_raw_response.create(
        model=model, messages=messages, max_tokens=1, extra_body={"truncate_prompt_tokens": exact})
    assert kept.headers.get("X-History-Trimmed") is None


async def test_disconnect_aborts_in_llamacpps_server(llamacpp_front, llamacpp_peer):
    """llama.cpp's own counters: its decode count stops growing and no slot is busy."""
    client = openai.AsyncOpenAI(base_url=llamacpp_front.base_url, api_key="x", max_retries=0, timeout=120)
    stream = await client.chat.completions.create(
        model=(await client.models.list()).data[0].id, messages=[{"role": "user", "content": "Count to one thousand."}], max_tokens=2000, stream=True,
        extra_body={"ignore_eos": True},
    )
    received = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    await stream.close()

    def stopped():
        first = peer_counters(llamacpp_peer)
        time.sleep(1.0)
        second = peer_counters(llamacpp_peer)
        done = second["requests_processing"] == 0 and second["n_decode_total"] == first["n_decode_total"]
        return second if done else None

    await wait_for(stopped, what="llama.cpp's server stopping the aborted request")


# ---- failure and recovery -------------------------------------------------------------------

async def test_killing_a_replica_under_load(client, front, replicas):
    """Six streams over three replicas; the busiest replica is killed mid-stream. Its streams end
    with an error event, every other stream finishes, new requests go elsewhere, none hangs."""
    first_chunks = [asyncio.Event() for _ in range(6)]

    async def one(i: int):
        stream = await client.completions.create(
            model=MODEL, prompt=f"# stream {i}\ndef function_{i}(", max_tokens=64, stream=True,
            extra_body={"ignore_eos": True},
        )
        try:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].text:
                    first_chunks[i].set()
            return "ok"
        except openai.APIError as exc:
            first_chunks[i].set()
            return f"error: {exc}"

    tasks = [asyncio.create_task(one(i)) for i in range(6)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_chunks)), 90)
    loads = {url: c["upstream_in_flight"] for url, c in per_server(front).items()}
    victim_url = max(loads, key=loads.get)
    on_victim = int(loads[victim_url])
    victim = next(r for r in replicas if r.url == victim_url)
    victim.process.kill()
    victim.process.wait()
    after_kill = await asyncio.gather(*(
        client.completions.create(model=MODEL, prompt=f"# after {i}\n", max_tokens=2) for i in range(3)
    ))
    results = await asyncio.wait_for(asyncio.gather(*tasks), 120)
    errors = [r for r in results if r != "ok"]
    assert len(errors) == on_victim, (loads, results)
    assert all("failed mid-stream" in e and victim_url in e for e in errors), errors
    assert all(a.choices[0].finish_reason for a in after_kill)
    assert per_server(front)[victim_url]["upstream_up"] == 0
    assert front.stats()["status"] == "ready"
    test_killing_a_replica_under_load.victim = victim  # the next test restarts it


async def test_a_restarted_replica_comes_back(client, front, start_gateway):
    victim = test_killing_a_replica_under_load.victim
    start_gateway("--port", str(victim.port), env=ONE_THREAD)
    await wait_for(lambda: per_server(front)[victim.url]["upstream_up"] == 1, what="the replica back in rotation")
    before = per_server(front)[victim.url]["upstream_requests_total"]
    for i in range(20):
        await client.completions.create(model=MODEL, prompt=f"# back {i}\n", max_tokens=1)
        if per_server(front)[victim.url]["upstream_requests_total"] > before:
            break
    assert per_server(front)[victim.url]["upstream_requests_total"] > before


async def test_a_server_failing_before_the_first_byte_is_retried_on_another(start_gateway, replicas, tmp_path):
    """A server killed between two health checks: the request homed on it is refused there and
    answered by the other server; the client sees nothing of it."""
    doomed = start_gateway(env=ONE_THREAD)
    servers = [doomed.url, replicas[2].url]
    config = write_config(tmp_path / "retry.yaml", servers, TOKENIZER)
    # Health checks far apart: the front still counts the killed server as up when the request comes.
    config.write_text(config.read_text().replace("health_interval_s: 0.5", "health_interval_s: 600"))
    front2 = start_gateway("--config", str(config))
    ring = BoundedLoadRing(servers)
    prompt = next(p for p in (f"# homed on the doomed server, try {i}\n" for i in range(200))
                  if ring.pick(p[:64], {}, servers) == doomed.url)
    doomed.process.kill()
    doomed.process.wait()
    client2 = openai.AsyncOpenAI(base_url=front2.base_url, api_key="x", max_retries=0, timeout=120)
    answer = await client2.completions.create(model=MODEL, prompt=prompt, max_tokens=2)
    assert answer.choices[0].finish_reason
    servers_after = per_server(front2)
    assert front2.stats()["engine_counters"]["upstream_retries_total"] == 1
    assert servers_after[doomed.url]["upstream_failures_total"] == 1 and servers_after[doomed.url]["upstream_up"] == 0
    assert servers_after[replicas[2].url]["upstream_requests_total"] == 1


# ---- configuration --------------------------------------------------------------------------

def _serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--port", "0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_no_servers_is_a_config_error():
    done = _serve("--engine", "upstream")
    assert done.returncode == 2
    assert "upstream.servers" in done.stderr.strip().splitlines()[-1]


def test_upstream_without_tokenize_needs_a_tokenizer(tmp_path):
    """A server with /health and /v1/models but no /tokenize (Python's static file server,
    which answers every POST with 501): the front names upstream.tokenizer."""
    from tests.conftest import free_port

    (tmp_path / "v1").mkdir()
    (tmp_path / "health").write_text("ok")
    (tmp_path / "v1" / "models").write_text('{"object": "list", "data": [{"id": "m", "max_model_len": 2048}]}')
    port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        config = write_config(tmp_path / "no-tokenizer.yaml", [f"http://127.0.0.1:{port}"], None)
        done = _serve("--config", str(config))
    finally:
        static.terminate()
        static.wait(10)
    assert done.returncode == 2, done.stderr
    assert "upstream.tokenizer" in done.stderr.strip().splitlines()[-1]


async def test_tools_structured_output_and_logprobs_go_through(client):
    """The upstream does tools, response_format and logprobs; the front passes them on and
    brings back tool calls (streamed in pieces) and logprobs."""
    import json

    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 24}}, "required": ["city"],
        "additionalProperties": False}}}
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    model = (await client.models.list()).data[0].id
    reply = await client.chat.completions.create(
        model=model, messages=ask, tools=[tool], tool_choice="required", max_tokens=40, temperature=0)
    (call,) = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city"}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    reply = await client.chat.completions.create(
        model=model, messages=ask, max_tokens=20, temperature=0, logprobs=True, top_logprobs=2,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert isinstance(json.loads(reply.choices[0].message.content)["ok"], bool)
    entries = reply.choices[0].logprobs.content
    assert entries and all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)

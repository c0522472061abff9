"""The cost of constrained decoding: the same load with and without a `json_schema`, side by side
against one server. Rounds alternate between the two (and which goes first) so machine noise falls
on both; each round runs `--concurrency` streams at once. Figures per load: completion tokens over
the round's wall time; the mean tokens per stream (the schema asks for at least 32 items, so no
answer can end before max_tokens: a round where streams ended early would count fewer tokens over
the same wall time); and each stream's decode rate (tokens after its first, over the time from
its first to its last), the median over the streams of a round.

    python bench/constrained_decoding.py [--url http://127.0.0.1:8000] [--rounds 4]
        [--concurrency 4] [--max-tokens 128]

Without --url it starts the embedded engine (the default model) on a free port. Prints a
Markdown table (paste it into docs/BENCHMARKS.md with the command). For vLLM start the gateway
with --engine vllm and pass --url (16 concurrent streams is the issue's target point); any
OpenAI-compatible server works, so the same command measures `vllm serve` beside it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Describe three cities as JSON: name, country, population, a fact."}]
# At least 32 items: the answer is limited by max_tokens, never ended early by the schema.
SCHEMA = {
    "type": "object",
    "properties": {
        "cities": {
            "type": "array",
            "minItems": 32,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "country": {"type": "string"},
                    "population": {"type": "integer"},
                    "fact": {"type": "string"},
                },
                "required": ["name", "country", "population", "fact"],
            },
        }
    },
    "required": ["cities"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stream:
    tokens: int
    decode_rate: float  # tokens after the first, per second from the first to the last


@dataclass
class Round:
    tokens_per_s: float
    tokens_per_stream: float
    decode_rate: float  # median over the round's streams


async def one(session: aiohttp.ClientSession, url: str, model: str, max_tokens: int, constrained: bool) -> Stream:
    body = {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.8,
            "stream": True, "stream_options": {"include_usage": True}}
    if not constrained:
        body["ignore_eos"] = True  # the plain answer runs to max_tokens too
    else:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "cities", "schema": SCHEMA}}
    tokens = 0
    first = last = None
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            if any(c.get("delta", {}).get("content") for c in chunk.get("choices") or ()):
                last = time.perf_counter()
                first = first or last
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    rate = (tokens - 1) / (last - first) if first is not None and last > first else 0.0
    return Stream(tokens, rate)


async def round_(url: str, model: str, concurrency: int, max_tokens: int, constrained: bool) -> Round:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as session:
        t0 = time.perf_counter()
        streams = await asyncio.gather(*(one(session, url, model, max_tokens, constrained) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    tokens = sum(s.tokens for s in streams)
    return Round(tokens / wall, tokens / concurrency, statistics.median(s.decode_rate for s in streams))


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


async def main(args: argparse.Namespace) -> None:
    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(url + "/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            async with session.get(url + "/v1/models") as resp:
                model = (await resp.json())["data"][0]["id"]
        await round_(url, model, args.concurrency, 8, True)  # warm-up (grammar compile, caches)
        rounds: dict[bool, list[Round]] = {False: [], True: []}
        for i in range(args.rounds):
            for constrained in ((False, True) if i % 2 == 0 else (True, False)):  # which goes first alternates
                rounds[constrained].append(await round_(url, model, args.concurrency, args.max_tokens, constrained))
        print(f"model {model}, {args.concurrency} concurrent streams, {args.max_tokens} tokens each, "
              f"{args.rounds} rounds: median (min–max); ratios per round, json_schema / plain\n")
        print("| load | tokens/s | ratio | tokens per stream | decode tokens/s per stream | ratio |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for constrained in (False, True):
            mine, plain = rounds[constrained], rounds[False]
            throughput = spread([r.tokens_per_s / p.tokens_per_s for r, p in zip(mine, plain)], ".2f")
            decode = spread([r.decode_rate / p.decode_rate for r, p in zip(mine, plain)], ".2f")
            print(f"| {'json_schema' if constrained else 'plain'} | {spread([r.tokens_per_s for r in mine], '.1f')} "
                  f"| {throughput} | {spread([r.tokens_per_stream for r in mine], '.0f')} "
                  f"| {spread([r.decode_rate for r in mine], '.1f')} | {decode} |")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running gateway; default: start the embedded engine")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    asyncio.run(main(parser.parse_args()))

"""The cost of constrained decoding: the same load with and without a `json_schema`, side by side
against one gateway. Rounds alternate between the two so machine noise falls on both; each round
runs `--concurrency` streams at once and counts completion tokens over its wall time (answers
may end early, before max_tokens, when the model or the schema ends them: tokens/s still compares).

    python bench/constrained_decoding.py [--url http://127.0.0.1:8000] [--rounds 4]
        [--concurrency 4] [--max-tokens 128]

Without --url it starts the embedded engine (the default model) on a free port. Prints a
Markdown table (paste it into docs/BENCHMARKS.md with the command). For vLLM start the gateway
with --engine vllm and pass --url (16 concurrent streams is the issue's target point).
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
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Describe three cities as JSON: name, country, population, a fact."}]
# Long enough that the answer is limited by max_tokens, not by the schema ending early.
SCHEMA = {
    "type": "object",
    "properties": {
        "cities": {
            "type": "array",
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


async def one(session: aiohttp.ClientSession, url: str, model: str, max_tokens: int, constrained: bool) -> int:
    body = {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.8,
            "stream": True, "stream_options": {"include_usage": True}}
    if constrained:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "cities", "schema": SCHEMA}}
    tokens = 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.startswith(b"data: {"):
                usage = json.loads(line[6:]).get("usage")
                if usage:
                    tokens = usage["completion_tokens"]
    return tokens


async def round_(url: str, model: str, concurrency: int, max_tokens: int, constrained: bool) -> float:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as session:
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(session, url, model, max_tokens, constrained) for _ in range(concurrency)))
        return sum(counts) / (time.perf_counter() - t0)


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
        rates: dict[bool, list[float]] = {False: [], True: []}
        for i in range(args.rounds):
            for constrained in ((False, True) if i % 2 == 0 else (True, False)):  # which goes first alternates
                rates[constrained].append(await round_(url, model, args.concurrency, args.max_tokens, constrained))
        ratios = [c / p for p, c in zip(rates[False], rates[True])]
        print(f"model {model}, {args.concurrency} concurrent streams, {args.max_tokens} tokens each, "
              f"{args.rounds} rounds: median (min–max)\n")
        print("| load | tokens/s | vs plain, per round |\n| --- | ---: | ---: |")
        print(f"| plain | {spread(rates[False], '.1f')} | 1.00 |")
        print(f"| json_schema | {spread(rates[True], '.1f')} | {spread(ratios, '.2f')} |")
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

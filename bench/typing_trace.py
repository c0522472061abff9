"""Typing-trace benchmark: a real file typed key by key through the language server.

A trace (bench/traces/*.trace.json) is a real file, the region of it that gets typed, and one
edit per keystroke with the pause before it (generated once with a fixed seed from a simple
typist model: ~130 ms between keys, longer after spaces and punctuation, 0.5-1.5 s at line
ends, an occasional 2 s pause to think; a line break and the editor's auto-indent are one edit).
The document is opened without the region, then each edit is replayed at its time:

* **language server**: ``didChange`` + an automatic ``textDocument/inlineCompletion`` per
  keystroke, as VS Code sends them; the server debounces, cancels what gets superseded and
  answers repeated/typed-along positions from its cache. Run again through
  ``textDocument/completion`` (a client without inline completion, asking on every keystroke as
  editors do while the list is ``isIncomplete``): the same pipeline behind another reply shape;
* **naive client**: one ``/v1/completions`` per keystroke with the same context window and
  token limit, no debounce, never cancelled.

A completion is *shown* when it has text and arrives before the next keystroke. Tokens are the
engine tokens each request cost (usage for finished requests; for requests the language
server cancelled, the tokens streamed before it closed the connection: the engine stops at
its next token). Wasted = all tokens − tokens of shown completions.

    python bench/typing_trace.py                       # starts its own gateway
    python bench/typing_trace.py --gateway-url http://127.0.0.1:8000
    python bench/typing_trace.py --generate            # rewrite the trace from its source file
    python bench/typing_trace.py --methods completion  # only the textDocument/completion path
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from lsp import protocol  # noqa: E402
from lsp.context import build_context  # noqa: E402
from lsp.postprocess import postprocess  # noqa: E402

TRACE = ROOT / "bench" / "traces" / "lru_cache.trace.json"
URI = "file:///bench/lru_cache.py"


# -- the trace ------------------------------------------------------------------------------


def generate(source: Path, first_line: int, last_line: int, seed: int = 7) -> dict:
    """Keystroke edits for lines [first_line, last_line] (1-based) of ``source``."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    before = "".join(lines[: first_line - 1])
    region = "".join(lines[first_line - 1 : last_line])
    after = "".join(lines[last_line:])
    rng = random.Random(seed)
    edits: list[list] = []  # [delay_ms, text]
    i = 0
    typed_since_pause = 0
    while i < len(region):
        ch = region[i]
        if ch == "\n":
            j = i + 1
            while j < len(region) and region[j] == " ":
                j += 1
            text = region[i:j]
            delay = rng.lognormvariate(0, 0.35) * 130
            edits.append([round(delay), text])
            i = j
            # reading the ghost text / thinking about the next line, before its first key
            next_pause = rng.uniform(500, 1500)
            if i < len(region):
                edits.append([round(next_pause), region[i]])
                i += 1
            continue
        delay = min(max(rng.lognormvariate(0, 0.35) * 130, 50), 600)
        prev = region[i - 1] if i else ""
        if prev in " .,:()[]=":
            delay += rng.uniform(0, 200)
        typed_since_pause += 1
        if typed_since_pause > 60 and rng.random() < 0.05:
            delay += 2000
            typed_since_pause = 0
        edits.append([round(delay), ch])
        i += 1
    return {
        "source": str(source.relative_to(ROOT)),
        "lines": [first_line, last_line],
        "seed": seed,
        "before": before,
        "after": after,
        "edits": edits,
    }


# -- shared bits ------------------------------------------------------------------------------


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/v1/stats", timeout=10) as resp:
        return json.load(resp)


async def wait_idle(url: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        req = (await asyncio.to_thread(stats, url))["requests"]
        if req["running"] == 0 and req["waiting"] == 0:
            return True
        await asyncio.sleep(0.25)
    return False


def engine_prompt_tokens(url: str) -> float:
    """Prompt tokens the engine processed (llama.cpp's counter excludes its prompt-cache hits)."""
    counters = stats(url).get("engine_counters") or {}
    return counters.get("prompt_tokens_total", 0.0)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Doc:
    """The bench's copy of the document: text, cursor and its LSP position."""

    def __init__(self, before: str, after: str):
        self.before, self.after = before, after
        self.version = 1

    @property
    def text(self) -> str:
        return self.before + self.after

    def position(self) -> types.Position:
        line = self.before.count("\n")
        col = utf16_len(self.before[self.before.rfind("\n") + 1 :])
        return types.Position(line=line, character=col)

    def type(self, text: str) -> types.Position:
        start = self.position()
        self.before += text
        self.version += 1
        return start


# -- language server run --------------------------------------------------------------------


class BenchClient(LanguageClient):
    def __init__(self):
        super().__init__("typing-trace", "0")

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def _show(params):
            print("server:", params.message, file=sys.stderr)



def _plain(value):
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _capabilities(method: str) -> types.ClientCapabilities:
    """A client like VS Code (inline completion) or like Neovim 0.7 / Emacs (completion only)."""
    if method == "inline":
        document = types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()
        )
    else:
        document = types.TextDocumentClientCapabilities(completion=types.CompletionClientCapabilities())
    return types.ClientCapabilities(text_document=document)


def _request(method: str, doc: "Doc"):
    uri = types.TextDocumentIdentifier(uri=URI)
    if method == "inline":
        return types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionParams(
            text_document=uri,
            position=doc.position(),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    return types.TEXT_DOCUMENT_COMPLETION, types.CompletionParams(
        text_document=uri,
        position=doc.position(),
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.TriggerForIncompleteCompletions),
    )


async def run_language_server(trace: dict, url: str, options: dict, speed: float, method: str = "inline") -> dict:
    client = BenchClient()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await client.start_io(sys.executable, "-m", "gateway.cli", "lsp", cwd=str(ROOT), env=env)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=_capabilities(method),
            process_id=os.getpid(),
            initialization_options={"gatewayUrl": url, **options},
        )
    )
    client.initialized(types.InitializedParams())
    doc = Doc(trace["before"], trace["after"])
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text=doc.text)
        )
    )
    shown: list[dict] = []
    pending: list[asyncio.Future] = []
    t0 = time.monotonic()
    at = 0.0
    for n, (delay, text) in enumerate(trace["edits"]):
        at += delay / 1000.0 / speed
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        start = doc.type(text)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=doc.version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=start, end=start), text=text
                    )
                ],
            )
        )
        msg_id = f"c{n}"
        version = doc.version
        sent = time.monotonic()
        name, params = _request(method, doc)
        fut = asyncio.ensure_future(client.protocol.send_request_async(name, params, msg_id=msg_id))

        def done(f, msg_id=msg_id, version=version, sent=sent):
            if f.cancelled() or f.exception() is not None:
                return
            result = f.result()
            items = list(getattr(result, "items", None) or [])
            if items and doc.version == version:
                shown.append({"id": msg_id, "latency_ms": (time.monotonic() - sent) * 1000})

        fut.add_done_callback(done)
        pending.append(fut)
    await asyncio.wait(pending, timeout=60)
    typing_s = time.monotonic() - t0
    server_stats = _plain(await client.protocol.send_request_async(protocol.STATS, {"replyTokens": True}))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    replies = server_stats.pop("reply_tokens", {})
    shown_tokens = sum(replies.get(s["id"], 0) for s in shown)
    return {
        "client": f"language server, {'textDocument/inlineCompletion' if method == 'inline' else 'textDocument/completion'}",
        "keystrokes": len(trace["edits"]),
        "gateway_requests": server_stats["gateway_calls"],
        "shown": len(shown),
        "latency_ms": [s["latency_ms"] for s in shown],
        "tokens_total": server_stats["tokens_generated"],
        "tokens_shown": shown_tokens,
        "rejected": 0,
        "refused_by": "",
        "typing_s": typing_s,
        "server": server_stats,
    }


# -- naive client run -----------------------------------------------------------------------


async def run_naive(trace: dict, url: str, options: dict, speed: float, drain_s: float) -> dict:
    doc = Doc(trace["before"], trace["after"])
    budget = options.get("contextBudgetTokens", 1024)
    max_tokens = options.get("maxTokens", 128)
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/v1/models") as resp:
            model = (await resp.json())["data"][0]["id"]
        results: list[dict] = []

        async def one(ctx, version, sent):
            body = {
                "model": model,
                "prompt": ctx.prefix,
                "suffix": ctx.suffix,
                "max_tokens": max_tokens,
                "temperature": options.get("temperature", 0.2),
            }
            if ctx.mid_line:
                body["stop"] = ["\n"]
            try:
                async with http.post(url + "/v1/completions", json=body) as resp:
                    answer = await resp.json(content_type=None)
                    status = resp.status
            except aiohttp.ClientError:
                results.append({"status": 0})
                return
            if status != 200:
                results.append({"status": status})
                return
            text = postprocess(answer["choices"][0]["text"], ctx)
            results.append(
                {
                    "status": 200,
                    "tokens": answer["usage"]["completion_tokens"],
                    "shown": bool(text) and doc.version == version,
                    "latency_ms": (time.monotonic() - sent) * 1000,
                }
            )

        tasks = []
        t0 = time.monotonic()
        at = 0.0
        for delay, text in trace["edits"]:
            at += delay / 1000.0 / speed
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            doc.type(text)
            ctx = build_context(doc.text, len(doc.before), budget)
            tasks.append(asyncio.ensure_future(one(ctx, doc.version, time.monotonic())))
        typing_s = time.monotonic() - t0
        _, unfinished = await asyncio.wait(tasks, timeout=drain_s)
        for task in unfinished:  # bounded run: what is still queued is cut (and not counted)
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
    ok = [r for r in results if r["status"] == 200]
    shown = [r for r in ok if r["shown"]]
    return {
        "client": "naive (no debounce, no cancel)",
        "keystrokes": len(trace["edits"]),
        "gateway_requests": len(trace["edits"]),
        "shown": len(shown),
        "latency_ms": [r["latency_ms"] for r in shown],
        "tokens_total": sum(r["tokens"] for r in ok),
        "tokens_shown": sum(r["tokens"] for r in shown),
        "rejected": len(results) - len(ok),
        "unfinished": len(unfinished),
        "refused_by": ", ".join(
            f"{n}× HTTP {code}" if code else f"{n}× connection error"
            for code, n in sorted(
                {c: sum(1 for r in results if r["status"] == c) for c in {r["status"] for r in results if r["status"] != 200}}.items()
            )
        ),
        "typing_s": typing_s,
    }


# -- main -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway() -> tuple[subprocess.Popen, str]:
    """A gateway whose queue never refuses the naive client: a 429 costs the engine nothing, so
    refusals would hide exactly the waste being measured."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(f"/tmp/typing-trace-gateway-{port}.log", "wb")
    env = {**os.environ, "OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S": "3600"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--max-queue", "4096"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except Exception:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"gateway did not become ready; see {log.name}")


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict], naive_wasted: int | None) -> str:
    head = (
        "| client | keystrokes | gateway requests | completions shown | median latency request→items (ms) "
        "| engine tokens | tokens shown | wasted tokens | wasted vs naive | prompt tokens processed |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    out = []
    for r in rows:
        wasted = r["tokens_total"] - r["tokens_shown"]
        share = (
            f"{100.0 * wasted / naive_wasted:.1f}%" if naive_wasted else "—"
        )
        lat = statistics.median(r["latency_ms"]) if r["latency_ms"] else None
        out.append(
            f"| {r['client']} | {r['keystrokes']} | {r['gateway_requests']}"
            + (f" ({r['rejected']} refused: {r['refused_by']})" if r["rejected"] else "")
            + (f" ({r['unfinished']} still queued at the drain limit, not counted)" if r.get("unfinished") else "")
            + f" | {r['shown']} | {fmt(lat)} | {r['tokens_total']} | {r['tokens_shown']} | {wasted} | {share} | {r.get('prompt_tokens', 0):.0f} |"
        )
    return head + "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", type=Path, default=TRACE)
    ap.add_argument("--gateway-url", help="use a running gateway (default: start one)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--budget", type=int, default=256, help="contextBudgetTokens")
    ap.add_argument("--speed", type=float, default=1.0, help="typing speed factor")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument(
        "--methods", default="inline,completion", help="language-server paths to run: inline, completion or both"
    )
    ap.add_argument("--drain-s", type=float, default=240, help="wait this long for the naive backlog")
    ap.add_argument("--generate", action="store_true", help="regenerate the trace file and exit")
    args = ap.parse_args()

    if args.generate:
        trace = generate(ROOT / "bench" / "traces" / "lru_cache.py", 36, 47)
        args.trace.write_text(json.dumps(trace, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        total = sum(d for d, _ in trace["edits"]) / 1000
        print(f"wrote {args.trace}: {len(trace['edits'])} edits, {total:.1f} s of typing")
        return

    trace = json.loads(args.trace.read_text(encoding="utf-8"))
    proc = None
    url = args.gateway_url
    if url is None:
        proc, url = start_gateway()
    url = url.rstrip("/").removesuffix("/v1")
    options = {
        "maxTokens": args.max_tokens,
        "contextBudgetTokens": args.budget,
        "temperature": 0.2,
        "completionTimeoutMs": 60000,
    }
    try:
        rows = []
        servers = []
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            await wait_idle(url)
            print(f"language server run ({method}) ...", file=sys.stderr)
            p0 = engine_prompt_tokens(url)
            ls = await run_language_server(trace, url, options, args.speed, method)
            await wait_idle(url)
            ls["prompt_tokens"] = engine_prompt_tokens(url) - p0
            rows.append(ls)
            servers.append(ls)
        naive = None
        if not args.skip_naive:
            print("naive client run ...", file=sys.stderr)
            p0 = engine_prompt_tokens(url)
            naive = await run_naive(trace, url, options, args.speed, args.drain_s)
            await wait_idle(url)
            naive["prompt_tokens"] = engine_prompt_tokens(url) - p0
            rows.insert(0, naive)
        naive_wasted = naive["tokens_total"] - naive["tokens_shown"] if naive else None
        print()
        print(
            f"trace: {trace['source']} lines {trace['lines'][0]}-{trace['lines'][1]}, "
            f"{len(trace['edits'])} keystrokes, {sum(d for d, _ in trace['edits']) / 1000 / args.speed:.0f} s; "
            f"maxTokens {args.max_tokens}, contextBudgetTokens {args.budget}; "
            f"model {stats(url).get('model')}; load average at the end {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        print()
        print(table(rows, naive_wasted))
        print()
        print(
            "| language-server overhead (ms) | p50 | p90 | max | samples |\n"
            "| --- | ---: | ---: | ---: | ---: |"
        )
        for ls in servers:
            s = ls["server"]
            print(
                f"| {ls['client']}: request → gateway call + answer → reply, completions answered by the gateway "
                f"| {fmt(s['overhead_ms']['p50'], 2)} | {fmt(s['overhead_ms']['p90'], 2)} "
                f"| {fmt(s['overhead_ms']['max'], 2)} | {s['overhead_ms']['count']} |\n"
                f"| {ls['client']}: request → gateway call only, every call (cancelled ones too) and cache hits "
                f"| {fmt(s['prepare_ms']['p50'], 2)} | {fmt(s['prepare_ms']['p90'], 2)} "
                f"| {fmt(s['prepare_ms']['max'], 2)} | {s['prepare_ms']['count']} |"
            )
        print()
        for ls in servers:
            s = ls["server"]
            print(
                f"{ls['client']}: {s['requests']} requests, {s['gateway_calls']} sent to the gateway, "
                f"{s['superseded']} superseded and cancelled, {s['cache_hits']} answered from the cache, "
                f"{s['errors']} errors; gateway answer p50 {fmt(s['gateway_ms']['p50'])} ms"
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    asyncio.run(main())

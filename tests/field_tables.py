"""Walks one of docs/PROTOCOL.md's request-field tables against the real gateway: each field,
sent with a sample value over a minimal body, works (200), is accepted and ignored (200), or is
a 400 that names it, as the table says. Shared by the wires' test_*field_table.py."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Callable

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def field_table(heading: str) -> dict[str, str]:
    """`field` -> supported | ignored | 400, from the table under `heading` in docs/PROTOCOL.md."""
    text = (ROOT / "docs" / "PROTOCOL.md").read_text()
    section = text.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (supported|ignored|400) \|", section, re.M)
    assert rows, f"no field table under {heading}"
    return dict(rows)


def param_names_it(error: dict, name: str) -> str:
    """OpenAI's error shape: `param` names the field."""
    param = error["error"]["param"]
    return "" if param == name else f"{name}: a 400, but it names {param!r}"


async def walk(url: str, base: dict, samples: dict, table: dict[str, str],
               names_it: Callable[[dict, str], str] = param_names_it) -> list[str]:
    """What differs from the table, one line a field; `names_it(error_body, field)` checks a 400."""
    assert set(table) == set(samples), "docs/PROTOCOL.md and this test list different fields"
    limit = asyncio.Semaphore(4)

    async def check(session: aiohttp.ClientSession, name: str) -> str:
        async with limit, session.post(url, json={**base, **samples[name]}) as resp:
            body = await resp.read()
            if table[name] == "400":
                if resp.status != 400:
                    return f"{name}: the table says 400, the gateway answered {resp.status}"
                return names_it(await resp.json(), name)
            if resp.status != 200:
                return f"{name}: the table says {table[name]}, the gateway answered {resp.status}: {body[:300]!r}"
            return ""

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        problems = await asyncio.gather(*(check(session, name) for name in samples))
    return [p for p in problems if p]

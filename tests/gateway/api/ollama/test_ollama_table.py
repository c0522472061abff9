"""docs/PROTOCOL.md's Ollama table, walked: every request field and option is sent with its
example to the real gateway, and the answer must match the status the table gives it
(supported and ignored: 200; refused: 400 naming the field, or 404 for an endpoint not served);
every "returned" answer field must be in the answer."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parents[4]
DOC = ROOT / "docs" / "PROTOCOL.md"
pytestmark = pytest.mark.timeout(900)

BASE = {
    "POST /api/generate": {"model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 1}},
    "POST /api/chat": {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": False,
                       "options": {"num_predict": 1}},
    "POST /api/show": {"model": MODEL},
    "POST /api/embed": {"model": EMBEDDING_MODEL, "input": "Hi"},
    "POST /api/embeddings": {"model": EMBEDDING_MODEL, "prompt": "Hi"},
    "POST /api/pull": {"model": MODEL},
}
# A history in which every message field has a message of its role to sit on.
TOOL_HISTORY = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
    {"role": "tool", "content": "ok"},
    {"role": "user", "content": "Hi"},
]
MESSAGE_FIELD_ROLES = {"tool_calls": "assistant", "tool_name": "tool", "tool_call_id": "tool"}


def table_rows() -> list[dict]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Ollama API (`/api/*`)", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| endpoint") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        endpoint, field, example, status = (c.replace("`", "") if i == 0 else c.strip("`") for i, c in enumerate(cells[:4]))
        rows.append({"endpoint": endpoint, "field": field, "example": example, "status": status,
                     "raw_field": cells[1]})
    return rows


ROWS = table_rows()


def test_the_table_covers_the_module():
    from gateway.api.ollama import protocol as p

    documented = {(r["endpoint"], r["field"]) for r in ROWS}
    for name in p.GenerateRequest.model_fields:
        assert ("POST /api/generate", name) in documented, name
    for name in p.ChatRequestBody.model_fields:
        assert ("POST /api/chat", name) in documented, name
    for name in p.Message.model_fields:
        assert name in ("role", "content") or ("POST /api/chat", f"messages[].{name}") in documented, name
    for name in p.ShowRequest.model_fields:
        assert ("POST /api/show", name) in documented, name
    for name in p.EmbedRequest.model_fields:
        assert ("POST /api/embed", name) in documented, name
    for name in p.EmbeddingsRequest.model_fields:
        assert ("POST /api/embeddings", name) in documented, name
    for name in p.PullRequest.model_fields:
        assert ("POST /api/pull", name) in documented, name
    for name in (*p.SUPPORTED_OPTIONS, *p.IGNORED_OPTIONS, *p.DEFAULT_ONLY_OPTIONS):
        assert ("options", name) in documented, name


def _request(row: dict) -> tuple[str, dict]:
    value = json.loads(row["example"])
    field = row["field"]
    if row["endpoint"] == "options":
        body = json.loads(json.dumps(BASE["POST /api/generate"]))
        body["options"][field] = value
        return "/api/generate", body
    body = json.loads(json.dumps(BASE[row["endpoint"]]))
    if field.startswith("messages[]."):
        name = field.split(".", 1)[1]
        role = MESSAGE_FIELD_ROLES.get(name, "user")
        if role != "user":
            body["messages"] = json.loads(json.dumps(TOOL_HISTORY))
        next(m for m in body["messages"] if m["role"] == role)[name] = value
    elif field == "options":
        body["options"] = {"num_predict": 1, **value}
    else:
        body[field] = value
    return row["endpoint"].split(" ", 1)[1], body


def _answer(response: httpx.Response) -> dict:
    if response.headers["content-type"].startswith("application/x-ndjson"):
        lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        if "status" in lines[-1]:  # a pull: status lines, the last one success
            assert lines[-1] == {"status": "success"}, lines
            return lines[-1]
        assert lines[-1]["done"] is True and all(not line["done"] for line in lines[:-1])
        return lines[-1]
    return response.json()


@pytest.fixture(scope="module")
def gw(start_gateway, tmp_path_factory):
    # The `retrieval` row's knowledge base: one small file, indexed as `docs`.
    corpus, data = tmp_path_factory.mktemp("corpus"), tmp_path_factory.mktemp("knowledge")
    (corpus / "port.md").write_text("The gateway listens on port 8000 unless --port says otherwise.\n")
    env = {"OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data)}
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "index", str(corpus), "--collection", "docs"],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return start_gateway(env=env)


def test_every_field_as_documented(gw):
    checked = 0
    with httpx.Client(base_url=gw.url, timeout=120) as http:
        for row in ROWS:
            if row["status"] == "returned":
                continue
            if not row["field"]:  # an endpoint that is not served
                method, path = row["endpoint"].split(" ", 1)
                r = http.request(method, path, json={"model": MODEL})
                assert r.status_code == 404 and list(r.json()) == ["error"], (row, r.text)
                checked += 1
                continue
            path, body = _request(row)
            r = http.post(path, json=body)
            if row["status"] in ("supported", "ignored"):
                assert r.status_code == 200, (row, r.text)
                answer = _answer(r)
                assert "error" not in answer and (answer["done"] if "done" in answer else True), (row, answer)
            else:
                assert row["status"] == "refused", row
                assert r.status_code == 400, (row, r.text)
                name = row["field"].split(".")[-1].replace("[]", "")
                assert name in r.json()["error"], (row, r.text)
            checked += 1
    assert checked >= 95


def test_every_returned_field_is_there(gw):
    with httpx.Client(base_url=gw.url, timeout=120) as http:
        for row in ROWS:
            if row["status"] != "returned":
                continue
            endpoint = row["endpoint"].removeprefix("answer of ")
            method, path = endpoint.split(" ", 1)
            fields = re.findall(r"`([^`]+)`", row["raw_field"])
            bodies = [BASE.get(endpoint)]
            if endpoint in ("POST /api/generate", "POST /api/chat"):
                bodies.append({**BASE[endpoint], "stream": True})  # the stream's last line too
            for body in bodies:
                r = http.request(method, path, json=body) if body else http.request(method, path)
                assert r.status_code == 200, (row, r.text)
                answer = _answer(r)
                for field in fields:
                    assert field in answer, (endpoint, field, answer)

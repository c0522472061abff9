"""lm-evaluation-harness (`lm_eval`, pinned in the dev extra) as the judge of the completions
wire: its own `local-completions` and `local-chat-completions` models run a small task made for
this test (lm_eval_tasks/questions.jsonl; no hub) against the gateway and against llama.cpp's
own server on the same GGUF (bench/llamacpp_peer.py), both with the same llama.cpp settings.

- Loglikelihoods (multiple choice): lm_eval scores each choice by `echo` with `logprobs` and
  reads the continuation's token log probabilities; its remote tokenizer reads the gateway's
  /tokenizer_info and /tokenize. llama.cpp's server cannot be scored that way (it answers `echo`
  with the generated token's log probability only), so its figure for the same tokens is read
  from its own next-token distribution (`/completion` with `n_probs`, no bias, no sampling): they
  must agree to 1e-3.
- Greedy generation: lm_eval's answers through both servers, by both models, are the same.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml
from llamacpp_server import running_llamacpp_server

QUESTIONS = Path(__file__).parent / "lm_eval_tasks" / "questions.jsonl"
MODEL = "SmolLM2-135M-Instruct.Q4_1"

lm_eval = pytest.importorskip("lm_eval", reason="lm-evaluation-harness is in the dev extra: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def llamacpp_server():
    """llama.cpp's own HTTP server, in its own process, on the default model."""
    with running_llamacpp_server("--n-parallel", "1", "--context-per-slot", "2048", "--n-threads", "1") as url:
        yield url


@pytest.fixture(scope="module")
def gateway(start_gateway):
    """llama.cpp in the gateway set as the server above is (one slot, its window, one thread for
    prompts and steps alike): the same arithmetic, so a near tie between two tokens cannot part
    the greedy answers (a batch split another way rounds otherwise)."""
    return start_gateway(env={
        "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
        "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "2048",
        "OSS_SIDECAR_LLAMACPP__N_THREADS": "1",
        "OSS_SIDECAR_LLAMACPP__N_THREADS_BATCH": "1",
        "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false",
    })


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory, monkeypatch_module):
    """The two tasks over the same questions, and the datasets cache, in a temporary folder."""
    folder = tmp_path_factory.mktemp("lm-eval")
    monkeypatch_module.setenv("HF_DATASETS_CACHE", str(folder / "datasets-cache"))
    monkeypatch_module.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    data = {"data_files": {"test": str(QUESTIONS)}}
    tasks = {
        "sidecar_choice": {
            "output_type": "multiple_choice", "doc_to_text": "{{question}}", "doc_to_choice": "{{choices}}",
            "doc_to_target": "answer",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        },
        "sidecar_answer": {
            "output_type": "generate_until", "doc_to_text": "{{question}}",
            "doc_to_target": "{{choices[answer]}}",
            "generation_kwargs": {"until": ["."], "max_gen_toks": 8, "do_sample": False, "temperature": 0},
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        },
    }
    for name, spec in tasks.items():
        body = {"task": name, "dataset_path": "json", "dataset_kwargs": data, "test_split": "test", **spec}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def evaluate(task_dir: Path, model: str, task: str, **model_args: object) -> list[dict]:
    """lm_eval's own run of `task`; its per-question samples."""
    from lm_eval.tasks import TaskManager

    args = {"model": MODEL, "num_concurrent": 1, "max_retries": 1, **model_args}
    out = lm_eval.simple_evaluate(
        model=model, model_args=",".join(f"{k}={v}" for k, v in args.items()), tasks=[task],
        task_manager=TaskManager(include_path=str(task_dir)), log_samples=True,
        apply_chat_template=model == "local-chat-completions",
    )
    return sorted(out["samples"][task], key=lambda s: s["doc_id"])


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


def llamacpp_loglikelihood(server: str, context: str, continuation: str) -> float:
    """The continuation's log probability after the context, token by token from llama.cpp's
    next-token distribution, with the tokens lm_eval scores (each part tokenized on its own)."""
    tokens = post(server + "/tokenize", {"content": context, "add_special": True})["tokens"]
    wanted = post(server + "/tokenize", {"content": continuation, "add_special": False})["tokens"]
    vocabulary = post_get(server + "/v1/models")["data"][0]["meta"]["n_vocab"]
    total = 0.0
    for token in wanted:
        for n_probs in (100, vocabulary):  # the whole distribution only for an unlikely token
            step = post(server + "/completion", {
                "prompt": tokens, "n_predict": 1, "n_probs": n_probs, "temperature": 0, "post_sampling_probs": False,
            })
            top = {entry["id"]: entry["logprob"] for entry in step["completion_probabilities"][0]["top_logprobs"]}
            if token in top:
                break
        total += top[token]
        tokens = tokens + [token]
    return total


def post_get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.load(answer)


# The greedy answers first: both servers then have served the same requests in the same order,
# so their prompt caches split each prompt the same way (the split changes the rounding too).
@pytest.mark.parametrize("model, path", [("local-completions", "/completions"),
                                         ("local-chat-completions", "/chat/completions")])
def test_greedy_answers_match_llamacpps_own_server(gateway, llamacpp_server, task_dir, model, path):
    # Prompts as text: generation needs no tokenizer on lm_eval's side.
    text = {"tokenizer_backend": "none", "tokenized_requests": False}
    ours = evaluate(task_dir, model, "sidecar_answer", base_url=gateway.base_url + path, **text)
    theirs = evaluate(task_dir, model, "sidecar_answer", base_url=llamacpp_server + "/v1" + path, **text)
    answers = [s["resps"][0][0] for s in ours]
    assert answers == [s["resps"][0][0] for s in theirs]
    assert any(a.strip() for a in answers), answers  # the model answered, not only stopped


def test_loglikelihoods_agree_with_llamacpps_own_server(gateway, llamacpp_server, task_dir):
    samples = evaluate(
        task_dir, "local-completions", "sidecar_choice", base_url=gateway.base_url + "/completions",
        tokenizer_backend="remote", tokenized_requests=False,
    )
    assert len(samples) == sum(1 for _ in QUESTIONS.open())
    for sample in samples:
        for (context, continuation), response in zip(sample["arguments"], sample["resps"]):
            score = response[0][0]
            reference = llamacpp_loglikelihood(llamacpp_server, context, continuation)
            assert abs(score - reference) <= 1e-3, (context, continuation, score, reference)
    # The model picks France's capital: the scores are the model's, not noise.
    assert samples[0]["acc"] == 1.0

"""Does a quantized KV cache change the default model's answers? Greedy answers and the sampled
tokens' log probabilities with llamacpp.cache_type f16 against another type (q8_0), in-process
through xllamacpp, one server after the other, the same prompts.

    python bench/kv_cache_type.py [--against q8_0] [--max-tokens 64] [--model FILE.gguf]

Prints how many answers are identical token for token, where the others first differ, and the
log probabilities' differences over the tokens before that point (afterwards the texts differ,
so their log probabilities are not comparable). `--against f16` is the control: a run against
itself must give identical answers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPTS = [
    "Write a short story about a lighthouse keeper.", "What is the capital of France?",
    "Explain recursion to a child.", "List three fruits.", "def fibonacci(n):",
    "Translate 'good morning' into Spanish.", "Why is the sky blue?", "Write a haiku about winter.",
    "Give me a Python function that reverses a string.", "What is 12 times 7?",
    "Summarize the plot of Romeo and Juliet.", "Name the planets of the solar system.",
]


def answers(model: str, cache_type: str, max_tokens: int) -> list[list[tuple[str, float]]]:
    import xllamacpp as xl

    params = xl.CommonParams()
    params.model.path = model
    params.n_parallel = 1
    params.n_ctx = 8192
    params.kv_unified = True
    params.verbosity = -1
    params.hostnames = [str(Path(tempfile.mkdtemp(prefix="kv-cache-type-")) / "llama.sock")]
    params.cache_type_k = params.cache_type_v = getattr(xl.ggml_type, f"GGML_TYPE_{cache_type.upper()}")
    server = xl.Server(params)
    out = []
    for prompt in PROMPTS:
        result = server.handle_chat_completions({
            "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, "logprobs": True, "top_logprobs": 1})
        out.append([(e["token"], e["logprob"]) for e in result["choices"][0]["logprobs"]["content"]])
    del server
    return out


def main() -> None:
    from gateway.engines.default_model import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="q8_0", choices=["f16", "q8_0"])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", help="GGUF file; default: the gateway's default model")
    args = parser.parse_args()
    model = args.model or str(default_model_path())

    base = answers(model, "f16", args.max_tokens)
    other = answers(model, args.against, args.max_tokens)
    identical, divergence, diffs = 0, [], []
    for a, b in zip(base, other):
        ta, tb = [t for t, _ in a], [t for t, _ in b]
        if ta == tb:
            identical += 1
            n = len(ta)
        else:
            n = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
            divergence.append(n)
        diffs += [abs(x - y) for (_, x), (_, y) in zip(a[:n], b[:n])]
    print(f"f16 against {args.against}, {len(PROMPTS)} prompts, greedy, up to {args.max_tokens} tokens:")
    print(f"- identical answers: {identical} of {len(PROMPTS)}")
    if divergence:
        print(f"- the others first differ at token {sorted(divergence)} (median {statistics.median(divergence)})")
    if diffs:
        print(f"- |log probability difference| over {len(diffs)} tokens before that: "
              f"mean {statistics.mean(diffs):.3f}, max {max(diffs):.3f}")


if __name__ == "__main__":
    main()

"""The long fuzz run: schemathesis over the whole /openapi.json of a real gateway (loopback).

Every operation of every wire format gets --per-operation generated requests (or as many as
fit in --budget-s), half valid (positive) and half not (negative), seeded, with output limits cut to 2 tokens
(tests/security/fuzz_limits.py). Each answer is counted: its status, and whether it fails
schemathesis's response checks (documented status, content type, body schema). The target is
0 answers >= 500 and 0 schema mismatches; each distinct failure is printed with a reproducer.

    python bench/fuzz_openapi.py [--url http://127.0.0.1:PORT] [--per-operation 1000]
        [--seed 31] [--workers 4] [--budget-s 240]

Without --url it starts a gateway of this checkout on a free port
(OSS_SIDECAR_MODEL__DEFAULT_MAX_TOKENS=2) and stops it after. The tests run the short
version: tests/security/test_fuzz_openapi.py.
"""
from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "security"))
from fuzz_limits import shortened  # noqa: E402


def _checks():
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [status_code_conformance, content_type_conformance, response_schema_conformance]


class _BudgetSpent(Exception):
    pass


def fuzz_operation(url: str, label: str, per_operation: int, seed: int, budget_s: float) -> dict:
    """Runs one operation's examples, or as many as fit in budget_s; returns the counts and the
    distinct failures."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operation = next(op.ok() for op in schema.get_all_operations() if op.ok().label == label)
    statuses: collections.Counter = collections.Counter()
    mismatches = 0
    failures: dict[str, str] = {}
    checks = _checks()

    deadline = 0.0

    def one(case) -> None:
        nonlocal mismatches
        if time.monotonic() > deadline:
            raise _BudgetSpent
        case.body = shortened(case.body)
        try:
            response = case.call(base_url=url, timeout=120)
        except Exception as exc:  # a dropped connection counts as a server fault
            statuses["no answer"] += 1
            failures.setdefault(f"no answer: {type(exc).__name__}", case.as_curl_command())
            return
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.setdefault(f"{response.status_code}: {response.text[:200]}", case.as_curl_command())
        try:
            case.validate_response(response, checks=checks)
        except BaseException as exc:  # schemathesis's failure group (KeyboardInterrupt aside)
            if isinstance(exc, KeyboardInterrupt):
                raise
            mismatches += 1
            failures.setdefault(f"mismatch: {str(exc)[:300]}", case.as_curl_command())

    for index, mode in enumerate((GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
        deadline = time.monotonic() + budget_s / 2
        strategy = operation.as_strategy(generation_mode=mode)

        @hypothesis_seed(seed + index)
        @settings(max_examples=per_operation // 2, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])  # no shrinking
        @given(strategy)
        def run(case) -> None:
            one(case)

        try:
            run()
        except Unsatisfiable:  # no invalid request exists (a GET without parameters)
            pass
        except _BudgetSpent:  # this mode's half of the budget is spent
            pass
        except Exception as exc:  # the harness itself: reported, the other operations go on
            failures.setdefault(f"harness: {type(exc).__name__}: {str(exc)[:300]}", "")
    return {"operation": label, "statuses": dict(statuses), "mismatches": mismatches, "failures": failures}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gateway() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = open(f"/tmp/oss-sidecar-fuzz-{port}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT, stdout=log,
        stderr=subprocess.STDOUT, env={**os.environ, "OSS_SIDECAR_MODEL__DEFAULT_MAX_TOKENS": "2"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    return process, url
        except Exception:
            time.sleep(1)
    process.terminate()
    raise SystemExit("the gateway did not become ready in 600 s; see " + log.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--per-operation", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget-s", type=float, default=240,
                        help="seconds per operation at most (half valid, half invalid bodies)")
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process, url = _start_gateway()
    try:
        import schemathesis

        # Every operation of the document (schemathesis leaves out /openapi.json itself).
        labels = [op.ok().label for op in schemathesis.openapi.from_url(url + "/openapi.json").get_all_operations()]
        started = time.perf_counter()
        results = []
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [pool.submit(fuzz_operation, url, label, args.per_operation, args.seed, args.budget_s)
                       for label in labels]
            for future in as_completed(futures):
                results.append(future.result())
                done = results[-1]
                print(f"done {done['operation']}: {sum(done['statuses'].values())} requests", flush=True)
        results.sort(key=lambda r: labels.index(r["operation"]))
        seconds = time.perf_counter() - started
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
    total = collections.Counter()
    print(f"{'operation':<36} {'requests':>8} {'>=500':>6} {'mismatch':>8}  statuses")
    for result in results:
        statuses = result["statuses"]
        total.update(statuses)
        errors = sum(n for s, n in statuses.items() if not isinstance(s, int) or s >= 500)
        shown = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=str))
        print(f"{result['operation']:<36} {sum(statuses.values()):>8} {errors:>6} {result['mismatches']:>8}  {shown}")
    requests = sum(total.values())
    server_errors = sum(n for s, n in total.items() if not isinstance(s, int) or s >= 500)
    mismatches = sum(r["mismatches"] for r in results)
    print(f"\n{len(labels)} operations, {requests} requests in {seconds:.0f} s: {server_errors} answers >= 500 "
          f"(or none), {mismatches} schema mismatches; seed {args.seed}, {args.workers} workers, "
          f"at most {args.per_operation} requests or {args.budget_s:.0f} s per operation")
    for result in results:
        for failure, reproducer in result["failures"].items():
            print(f"\n{result['operation']}: {failure}\n    {reproducer}")
    sys.exit(1 if server_errors or mismatches else 0)


if __name__ == "__main__":
    main()

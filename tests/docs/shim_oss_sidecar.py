"""`oss-sidecar` as the docs runner puts it first on PATH: long-running commands are checked, then stopped.

A doc block that says `oss-sidecar serve` or `oss-sidecar lsp` would run forever. Here it runs
for real (the quick start's installation, the same arguments) on a free port instead of the
one it names, and the shim returns once it is proven up: `serve` when `/health` answers 200,
`lsp --tcp` when its port accepts a connection, `lsp` on stdio when it is still running after
two seconds. A server that stops by itself has its output passed through and its exit code
returned. Every other subcommand is the real one, unchanged.

In an `sh` block (DOC_TEST_MODE=sh) a `serve` with the vLLM engine on a machine without vLLM
must stop with status 2 and the documented install hint; that counts as success. In a
transcript it is passed through unchanged, so the transcript compares the real message.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REAL = os.path.join(os.environ["DOC_TEST_VENV"], "bin", "oss-sidecar")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(args: list, flag: str, value: str) -> list:
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        if a.startswith(flag + "="):
            continue
        out.append(a)
    return out + [flag, value]


def engine_is_vllm(args: list) -> bool:
    if "--engine" in args and args.index("--engine") + 1 < len(args):
        return args[args.index("--engine") + 1] == "vllm"
    if any(a == "--engine=vllm" for a in args):
        return True
    if os.environ.get("OSS_SIDECAR_ENGINE") == "vllm":
        return True
    if "--config" in args and args.index("--config") + 1 < len(args):
        try:
            with open(args[args.index("--config") + 1]) as f:
                return any(line.strip() == "engine: vllm" for line in f)
        except OSError:
            return False
    return False


def vllm_installed() -> bool:
    py = os.path.join(os.environ["DOC_TEST_VENV"], "bin", "python")
    return subprocess.run([py, "-c", "import vllm"], capture_output=True).returncode == 0


def run_until(cmd: list, ready, timeout: float, stdin=subprocess.DEVNULL) -> int:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=log, stderr=subprocess.STDOUT)

    def passthrough() -> None:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace"))
        sys.stderr.flush()

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                passthrough()
                return proc.returncode
            if ready(proc):
                print(f"doc-test: `oss-sidecar {' '.join(cmd[1:])}` is up; stopped", file=sys.stderr)
                return 0
            time.sleep(0.2)
        passthrough()
        print(f"doc-test: `oss-sidecar {' '.join(cmd[1:])}` not up after {timeout:.0f} s", file=sys.stderr)
        return 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(args: list) -> int:
    port = free_port()
    args = with_port(args, "--port", str(port))
    if any(a == "--ollama-port" or a.startswith("--ollama-port=") for a in args):
        args = with_port(args, "--ollama-port", str(free_port()))  # the second port, free too
    cmd = [REAL, *args]
    if engine_is_vllm(args) and not vllm_installed():
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if os.environ.get("DOC_TEST_MODE") != "sh":
            sys.stdout.write(out.stdout)
            sys.stderr.write(out.stderr)
            return out.returncode
        if out.returncode == 2 and "needs vLLM" in out.stderr and "pip install" in out.stderr:
            print("doc-test: vLLM needs NVIDIA GPUs; without it this stops with the documented "
                  f"install hint: {out.stderr.strip()}", file=sys.stderr)
            return 0
        sys.stderr.write(out.stdout + out.stderr)
        return out.returncode or 1

    def ready(_proc) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    return run_until(cmd, ready, 180)


def lsp(args: list) -> int:
    tcp = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--tcp"), None)
    if tcp:
        host = tcp.rsplit(":", 1)[0]
        port = free_port()
        args = with_port(args, "--tcp", f"{host}:{port}")

        def listening(_proc) -> bool:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return True
            except OSError:
                return False

        return run_until([REAL, *args], listening, 60)
    started = time.monotonic()
    return run_until([REAL, *args], lambda _p: time.monotonic() - started > 2, 60, stdin=subprocess.PIPE)


def main() -> int:
    if not os.path.exists(REAL):
        print("oss-sidecar: command not found (the quick start did not install it)", file=sys.stderr)
        return 127
    args = sys.argv[1:]
    if args and args[0] == "serve":
        return serve(args)
    if args and args[0] == "lsp":
        return lsp(args)
    os.execv(REAL, [REAL, *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""oss-sidecar serve | lsp | index | config | doctor — argument parsing only."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any, Optional

import yaml

EXIT_CONFIG = 2
# The wheel carries no config/ folder: the help points to what every install has.
CONFIG_HELP = "YAML settings file; `oss-sidecar config` prints every setting with its value"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oss-sidecar")
    except PackageNotFoundError:  # run from a source folder that was never installed
        return "(not installed)"


def _serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line flags as a settings tree (only those given)."""
    tree: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        if value is None:
            return
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    put("engine", args.engine)
    put("model.path", args.model)
    put("server.host", args.host)
    put("server.port", args.port)
    put("server.api_keys", args.api_key)
    put("server.served_model_name", args.served_model_name)
    put("server.ollama_port", args.ollama_port)
    put("admission.max_concurrency", args.max_concurrency)
    put("admission.max_queue", args.max_queue)
    put("logging.level", args.log_level)
    return tree


def _load(args: argparse.Namespace, overrides: Optional[dict] = None):
    from gateway.settings import ConfigError, load_settings

    try:
        return load_settings(args.config, overrides or {})
    except ConfigError as exc:
        from gateway.redaction import redact

        print(f"oss-sidecar: config error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def _progress(message: str, fraction: float) -> None:
    from gateway.redaction import redact

    print(f"[{fraction * 100:3.0f}%] {redact(message)}", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.settings import ConfigError

    settings = _load(args, _serve_overrides(args))
    logging.basicConfig(
        level=settings.logging.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from gateway import redaction

    redaction.install()  # an upstream URL's user:password never reaches the log
    from gateway.engines.default_model import ModelFileError
    from gateway.engines.registry import EngineUnavailable, create_engine
    from gateway.prompts.fim import get_family

    if settings.model.fim_family not in ("auto", "none"):
        try:
            get_family(settings.model.fim_family)
        except ValueError as exc:
            print(f"oss-sidecar: config error: model.fim_family: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        engine = create_engine(settings)
        engine.check_model()
        if settings.embeddings.enabled:
            from gateway.embeddings import create_embedding_model

            create_embedding_model(settings.embeddings).check_model()
    except (EngineUnavailable, ConfigError) as exc:
        print(f"oss-sidecar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ModelFileError as exc:
        print(f"oss-sidecar: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_serve(settings, engine))


async def _serve(settings, engine) -> int:
    from aiohttp import web

    from gateway.api.openai.protocol import error_body
    from gateway.api.ops import health_status
    from gateway.app import LOAD_ERROR, READY, create_app
    from gateway.http_server import GatewayRunner
    from gateway.lifecycle import LIFECYCLE

    server = settings.server
    app = create_app(settings, engine, progress=_progress)
    runner = GatewayRunner(
        app,
        header_timeout_s=server.header_timeout_s,
        error_body=error_body,
        keepalive_timeout=server.keepalive_timeout_s,
        handler_cancellation=True,
        shutdown_timeout=5.0,  # by then the drain below has ended every request
        access_log=None if not settings.logging.access_log else logging.getLogger("aiohttp.access"),
    )
    await runner.setup()
    # The same app on a second port when server.ollama_port is set: Ollama clients look there.
    ports = [server.port] + ([server.ollama_port] if server.ollama_port else [])
    for listen_port in ports:
        try:
            await web.TCPSite(runner, server.host, listen_port).start()
        except OSError as exc:
            print(f"oss-sidecar: cannot listen on {server.host}:{listen_port}: {exc.strerror}", file=sys.stderr)
            await runner.cleanup()
            return 1
    port = runner.addresses[0][1]
    host = server.host if server.host not in ("0.0.0.0", "::") else "127.0.0.1"
    url = f"http://{host}:{port}"
    print(f"oss-sidecar: listening on {url} (model loading; GET {url}/health says when it is ready)", flush=True)
    if settings.server.ollama_port:
        print(f"oss-sidecar: Ollama API also on http://{host}:{settings.server.ollama_port}/api", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_signal(signum: int) -> None:
        # A second SIGTERM or SIGINT exits at once, without draining.
        from gateway.engines.llamacpp.listener import exit_at_once

        for again in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(again, exit_at_once, 128 + again)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first_signal, sig)
    ready = asyncio.ensure_future(app[READY].wait())
    await asyncio.wait([ready, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    # The chat model is up; the embedding model may still load, and /health says ready only
    # once it has (or has failed: the chat model serves without it, as /health says).
    while not app[LOAD_ERROR] and not stop.is_set() and health_status(app) == "loading":
        await asyncio.sleep(0.05)
    code = 0
    if app[LOAD_ERROR]:
        from gateway.settings import ConfigError

        error = app[LOAD_ERROR][0]
        if isinstance(error, ConfigError):  # found only once the engine could look (an upstream's API)
            print(f"oss-sidecar: config error: {error}", file=sys.stderr)
            code = EXIT_CONFIG
        else:
            print(f"oss-sidecar: the model failed to load: {error}", file=sys.stderr)
            code = 1
    elif not stop.is_set():
        print(
            f"oss-sidecar: ready. Chat page: {url}/   OpenAI API: {url}/v1   Ollama API: {url}/api   "
            f"Health: {url}/health   Metrics: {url}/metrics",
            flush=True,
        )
        await stop.wait()
    if stop.is_set():
        await _drain(runner, app[LIFECYCLE], server.shutdown_grace_s)
    await runner.cleanup()
    return code


async def _drain(runner, lifecycle, grace_s: float) -> None:
    """Stop accepting, let running requests finish for grace_s, then end the rest with an error."""
    for site in runner.sites:
        listener = getattr(site, "_server", None)  # the listening socket; open connections stay
        if listener is not None:
            listener.close()
    lifecycle.start_draining()
    running = len(lifecycle.guards)
    print(f"oss-sidecar: shutting down: {running} request(s) running, {grace_s:g} s to finish "
          "(a second Ctrl-C or SIGTERM exits at once)", file=sys.stderr, flush=True)
    if not await lifecycle.wait_idle(grace_s):
        ended = lifecycle.end_all()
        print(f"oss-sidecar: ended {ended} request(s) still running after {grace_s:g} s", file=sys.stderr, flush=True)
        await lifecycle.wait_idle(5.0)


def cmd_lsp(args: argparse.Namespace) -> int:
    from lsp.server import serve

    serve(tcp=args.tcp)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from gateway.knowledge.command import run_index

    settings = _load(args)
    if not args.paths and not args.delete:
        print("oss-sidecar index: give files or folders to index (or --delete)", file=sys.stderr)
        return EXIT_CONFIG
    return run_index(settings, args.paths, args.collection, args.delete)


def cmd_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    print(yaml.safe_dump(settings.model_dump(), sort_keys=False), end="")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.doctor import MISSING, checks
    from gateway.engines.registry import engine_specs

    settings = _load(args)
    print(f"engines: {', '.join(engine_specs())}; configured: {settings.engine}")
    lines = checks(settings)
    for mark, text in lines:
        print(f"[{mark}] {text}")
    return 1 if any(mark == MISSING for mark, _ in lines) else 0


def build_parser() -> argparse.ArgumentParser:
    from gateway.engines.registry import engine_specs

    parser = argparse.ArgumentParser(prog="oss-sidecar", description="A local, key-free AI gateway for editors.")
    parser.add_argument("--version", action="version", version=f"oss-sidecar {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the OpenAI-compatible API and the chat page")
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument("--model", help="model: a .gguf file (llamacpp) or a Hugging Face id/folder (vllm)")
    serve.add_argument("--engine", choices=list(engine_specs()))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--api-key", action="append", help="require this Bearer key (repeatable)")
    serve.add_argument("--served-model-name")
    serve.add_argument("--ollama-port", type=int, help="also listen here (Ollama's own is 11434)")
    serve.add_argument("--max-concurrency", type=int)
    serve.add_argument("--max-queue", type=int)
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    lsp = sub.add_parser("lsp", help="run the language server (stdio by default)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    lsp.set_defaults(func=cmd_lsp)

    index = sub.add_parser(
        "index", help="index files into a knowledge base (Chroma) for retrieval-augmented chat"
    )
    index.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (text, Markdown, rst, PDF, source)")
    index.add_argument("--collection", required=True, help="the knowledge base's name (3-512 of a-z A-Z 0-9 . _ -)")
    index.add_argument(
        "--delete", action="store_true", help="remove these paths from the knowledge base; with no path, delete it"
    )
    index.add_argument("--config", help=CONFIG_HELP + "; index reads its embeddings and knowledge sections")
    index.set_defaults(func=cmd_index)

    config = sub.add_parser(
        "config", help="print the effective configuration: every setting, from defaults, --config and OSS_SIDECAR_*"
    )
    config.add_argument("--config", help=CONFIG_HELP)
    config.set_defaults(func=cmd_config)

    doctor = sub.add_parser("doctor", help="check the installation: engine, models, optional extras")
    doctor.add_argument("--config", help=CONFIG_HELP)
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Optional[list[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()

"""`python -m atelier_trellis_worker`: run the worker (options from flags or the environment).

    ATELIER_URL=https://atelier.example.com ATELIER_WORKER_KEY=atw_... python -m atelier_trellis_worker

Exit status: 0 after SIGTERM/SIGINT (held tasks released), 2 for a bad command line
or setting, 3 when the server refuses the worker key.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import __version__
from .client import AtelierClient
from .engine import IMAGE_MODEL, MODELS, TEXT_MODEL, Engine, configure_environment
from .worker import Shutdown, ShutdownSignal, Worker, WorkerConfig

log = logging.getLogger("atelier_trellis_worker")

EXIT_USAGE = 2


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_flag(name: str, default: bool) -> bool:
    value = _env(name).lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line, each option defaulting to its environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m atelier_trellis_worker",
        description="Atelier's TRELLIS worker: claims trellis/* tasks from an Atelier server, runs them on this GPU.",
    )
    parser.add_argument("--url", default=_env("ATELIER_URL"), help="the Atelier server (ATELIER_URL)")
    parser.add_argument(
        "--key-file",
        default=_env("ATELIER_WORKER_KEY_FILE"),
        help="a file holding the worker key (ATELIER_WORKER_KEY_FILE); else ATELIER_WORKER_KEY",
    )
    parser.add_argument(
        "--models",
        default=_env("ATELIER_WORKER_MODELS", f"{IMAGE_MODEL},{TEXT_MODEL}"),
        help="comma-separated models to serve (ATELIER_WORKER_MODELS; default both)",
    )
    parser.add_argument(
        "--wait-secs",
        type=int,
        default=_env("ATELIER_WORKER_WAIT_SECS", "25"),
        help="how long one claim waits for a task (ATELIER_WORKER_WAIT_SECS; default 25)",
    )
    parser.add_argument(
        "--export-timeout",
        type=float,
        default=_env("ATELIER_WORKER_EXPORT_TIMEOUT_SECS", "600"),
        help="seconds the GLB export stage may take before the task fails as timeout "
        "(ATELIER_WORKER_EXPORT_TIMEOUT_SECS; default 600)",
    )
    parser.add_argument(
        "--device", default=_env("ATELIER_WORKER_DEVICE", "cuda"), help="cuda, cuda:N or cpu (ATELIER_WORKER_DEVICE)"
    )
    parser.add_argument(
        "--attn-backend",
        choices=("flash-attn", "xformers"),
        default=_env("ATTN_BACKEND") or None,
        help="TRELLIS's attention backend (ATTN_BACKEND; default flash-attn)",
    )
    parser.add_argument(
        "--spconv-algo",
        choices=("auto", "native"),
        default=_env("SPCONV_ALGO") or None,
        help="spconv's algorithm choice (SPCONV_ALGO; native starts faster for one-off runs)",
    )
    parser.add_argument(
        "--image-weights",
        default=_env("ATELIER_TRELLIS_IMAGE_WEIGHTS"),
        help=f"repo id or directory of {IMAGE_MODEL}'s weights (default {MODELS[IMAGE_MODEL].weights})",
    )
    parser.add_argument(
        "--text-weights",
        default=_env("ATELIER_TRELLIS_TEXT_WEIGHTS"),
        help=f"repo id or directory of {TEXT_MODEL}'s weights (default {MODELS[TEXT_MODEL].weights})",
    )
    parser.add_argument(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("ATELIER_WORKER_PRELOAD", False),
        help="load the pipelines before the first claim rather than on first use (ATELIER_WORKER_PRELOAD)",
    )
    parser.add_argument(
        "--preview",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("ATELIER_WORKER_PREVIEW", True),
        help="send a rendered still with each result (ATELIER_WORKER_PREVIEW; default on)",
    )
    parser.add_argument(
        "--instance",
        default=_env("ATELIER_WORKER_INSTANCE") or f"{socket.gethostname()}-{os.getpid()}",
        help="this process's name in the server's records (default hostname-pid)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("ATELIER_WORKER_LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
        help="ATELIER_WORKER_LOG_LEVEL (default info)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def read_key(args: argparse.Namespace) -> str:
    """The worker key: from `--key-file`, else `ATELIER_WORKER_KEY`."""
    if args.key_file:
        return Path(args.key_file).read_text(encoding="utf-8").strip()
    return _env("ATELIER_WORKER_KEY")


def check_models(text: str) -> List[str]:
    """The models named in `text` (comma-separated), each one this worker runs."""
    models = [model.strip() for model in text.split(",") if model.strip()]
    unknown = [model for model in models if model not in MODELS]
    if not models or unknown:
        raise ValueError(f"--models: name models among {', '.join(MODELS)} (got {text!r})")
    return list(dict.fromkeys(models))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the worker; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        models = check_models(args.models)
        key = read_key(args)
    except (ValueError, OSError) as error:
        log.error("%s", error)
        return EXIT_USAGE
    if not args.url.startswith(("http://", "https://")):
        log.error("set ATELIER_URL (or --url) to the Atelier server, such as https://atelier.example.com")
        return EXIT_USAGE
    if not key:
        log.error(
            "set ATELIER_WORKER_KEY (or --key-file) to a worker key (atw_...); an admin makes one with "
            "POST /api/v1/admin/worker-keys"
        )
        return EXIT_USAGE
    if args.wait_secs < 0 or args.export_timeout <= 0:
        log.error("--wait-secs must be 0 or more and --export-timeout more than 0")
        return EXIT_USAGE

    configure_environment(args.attn_backend, args.spconv_algo)
    engine = Engine(args.device, {IMAGE_MODEL: args.image_weights, TEXT_MODEL: args.text_weights})
    config = WorkerConfig(
        models=tuple(models),
        wait_secs=args.wait_secs,
        export_timeout_secs=args.export_timeout,
        instance=args.instance,
        preview=args.preview,
    )
    shutdown = ShutdownSignal()
    shutdown.install()
    worker = Worker(AtelierClient(args.url, key), engine, config, shutdown)
    if args.preload:
        try:
            for model in models:
                engine.pipeline(model)
        except Shutdown:
            log.info("shutting down before serving")
            return 0
    status = worker.run()
    if worker.has_running_exports():
        # An export abandoned after its timeout still runs in a thread that cannot be
        # stopped; leave without waiting for it (or for the interpreter's teardown
        # to race it on the GPU).
        logging.shutdown()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())

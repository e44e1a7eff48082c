"""The worker loop: claim a task (long-polling), run it on TRELLIS, report it.

One task at a time (a GPU runs one TRELLIS job well). While a task runs, a
heartbeat thread renews its lease every third of the lease and reports progress
(5 once the inputs are in, 50 once TRELLIS has sampled, 90 once the files are
written). Then:

- success: `complete` with the files in the order of `output_formats` (and a preview);
- an exception: `fail` with its class (`errors.classify`);
- the lease lost (the task cancelled, or reclaimed after the worker went quiet):
  the task is dropped and nothing is reported. The lease is checked between stages:
  a stage TRELLIS is in runs to its end first;
- SIGTERM or SIGINT: the current stage is interrupted, the held task released
  (another worker takes it at once, no attempt counted), and the worker exits 0;
- the server unreachable or busy: back off (its `Retry-After` when it gives one);
- the worker key refused: exit `EXIT_KEY_REFUSED` with a message saying so.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

from . import export
from .client import (
    AtelierClient,
    AtelierError,
    ClaimedTask,
    Forbidden,
    LeaseLost,
    Part,
    PayloadTooLarge,
    RequestRejected,
    ServerBusy,
    TransientError,
    Unauthorized,
)
from .engine import MODELS, Engine, Sampled
from .errors import (
    GENERATION_FAILED,
    ExportTimeout,
    Failure,
    InputRejected,
    TransientFailure,
    classify,
    is_out_of_memory,
)
from .presets import DEFAULT_QUALITY, Preset, preset_for

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_OK = 0
#: The worker key was refused (401) or does not serve the models asked (403).
EXIT_KEY_REFUSED = 3

PROGRESS_INPUTS = 5
PROGRESS_SAMPLED = 50
PROGRESS_EXPORTED = 90

#: TRELLIS's seed range.
MAX_SEED = 2**31 - 1
#: How many times a completion or failure is sent while the server does not answer.
REPORT_TRIES = 5


@dataclass(frozen=True)
class WorkerConfig:
    """How the worker claims and runs tasks."""

    #: The models claimed (`service/model`).
    models: Tuple[str, ...]
    #: How long one claim waits for a task (the server caps it at `pull.max_wait_secs`).
    wait_secs: int = 25
    #: The export stage's limit; past it the task fails as `timeout`.
    export_timeout_secs: float = 600.0
    #: This process's name in the server's task records.
    instance: str = ""
    #: Whether to send a rendered still as the `preview` part.
    preview: bool = True
    #: The longest pause between claims when the server is unreachable.
    max_backoff_secs: float = 60.0


class Shutdown(BaseException):
    """SIGTERM or SIGINT arrived: stop what is running, release the held task, exit 0.

    A `BaseException`, like `KeyboardInterrupt`, so that `except Exception` around
    TRELLIS does not swallow it.
    """


class ShutdownSignal:
    """Turns SIGTERM and SIGINT into `Shutdown`, raised in the main thread wherever it is,
    except inside `shielded()` blocks (a report being sent), after which `check()` raises it."""

    def __init__(self) -> None:
        self.requested: Optional[str] = None
        self._shielded = 0

    def install(self) -> None:
        """Handles SIGTERM and SIGINT from now on (call from the main thread)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # No logging here: the signal may have interrupted a log call holding its lock.
        self.requested = signal.Signals(signum).name
        if self._shielded == 0:
            raise Shutdown(self.requested)

    def request(self, reason: str) -> None:
        """Asks for a shutdown as a signal would (for callers other than the signal handler)."""
        self.requested = reason

    def check(self) -> None:
        """Raises `Shutdown` if one was asked for."""
        if self.requested is not None:
            raise Shutdown(self.requested)

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """A block no signal interrupts (a shutdown asked for meanwhile waits for `check()`)."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1


class Backoff:
    """Exponential pauses (1, 2, 4, ... seconds up to a cap, plus up to 10 % jitter)."""

    def __init__(self, base_secs: float = 1.0, cap_secs: float = 60.0) -> None:
        self._base = base_secs
        self._cap = cap_secs
        self._failures = 0

    def next(self) -> float:
        """The next pause, longer each time until `reset`."""
        delay = min(self._cap, self._base * (2 ** min(self._failures, 16)))
        self._failures += 1
        return delay * (1 + random.uniform(0, 0.1))

    def reset(self) -> None:
        self._failures = 0


class Heartbeat:
    """Renews a task's lease in the background and reports its progress.

    It beats every `interval` seconds, and at once when the progress changes. A beat
    answered `lease_lost` (or 404, or 401) marks the lease lost: `check()` then raises
    `LeaseLost` in the thread running the task.
    """

    def __init__(self, client: AtelierClient, task: ClaimedTask, interval: float) -> None:
        self._client = client
        self._task = task
        self._interval = interval
        self._progress: Optional[int] = None
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lost = threading.Event()
        self._reason = ""
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{task.task_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops beating (a beat in flight ends on its own: the thread is a daemon)."""
        self._stopped.set()
        self._wake.set()

    def set_progress(self, progress: int) -> None:
        """Reports `progress` (0 to 100) with the next beat, sent now."""
        self._progress = progress
        self._wake.set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        """Raises `LeaseLost` once a beat found the lease gone."""
        if self._lost.is_set():
            raise LeaseLost(self._reason or "the lease no longer holds")

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._client.heartbeat(self._task, self._progress)
            except (LeaseLost, Unauthorized) as error:
                self._reason = str(error)
                self._lost.set()
                log.warning("task %s: heartbeat refused, the lease is lost: %s", self._task.task_id, error)
                return
            except AtelierError as error:
                log.warning("task %s: heartbeat failed (trying again): %s", self._task.task_id, error)
            except Exception:  # noqa: BLE001 - the thread must keep beating whatever happens
                log.exception("task %s: heartbeat failed unexpectedly", self._task.task_id)


@dataclass(frozen=True)
class TaskParams:
    """A task's input, as this worker uses it."""

    quality: str
    formats: Tuple[str, ...]
    seed: int
    prompt: Optional[str] = None


def parse_input(task: ClaimedTask) -> TaskParams:
    """The task's input checked (the server checked it already; a worker trusts nothing it did not check)."""
    data = task.input
    quality = data.get("quality", DEFAULT_QUALITY)
    if not isinstance(quality, str):
        raise InputRejected("quality must be a string")
    formats = data.get("output_formats", list(export.FORMATS))
    if not isinstance(formats, list) or not formats or not all(isinstance(name, str) for name in formats):
        raise InputRejected("output_formats must be a list of formats")
    unknown = [name for name in formats if name not in export.FORMATS]
    if unknown:
        raise InputRejected(f"unknown output format {unknown[0]!r} (known: {', '.join(export.FORMATS)})")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputRejected(f"seed must be an integer from 0 to {MAX_SEED}")
    prompt = data.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise InputRejected("prompt must be a non-empty string")
    return TaskParams(
        quality=quality,
        formats=tuple(dict.fromkeys(formats)),
        seed=seed,
        prompt=prompt.strip() if isinstance(prompt, str) else None,
    )


def decode_picture(data: bytes) -> Any:
    """The input picture as a PIL image TRELLIS takes: RGBA when it has transparency
    (TRELLIS then keeps its own cut-out), RGB otherwise (TRELLIS removes the background)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise InputRejected(f"the picture cannot be read: {error}") from error
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


class Worker:
    """Claims tasks of its models and runs them, until a shutdown or a refused key."""

    def __init__(
        self,
        client: AtelierClient,
        engine: Engine,
        config: WorkerConfig,
        shutdown: Optional[ShutdownSignal] = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.config = config
        self.shutdown = shutdown or ShutdownSignal()
        self._backoff = Backoff(cap_secs=config.max_backoff_secs)
        self._abandoned: List[threading.Thread] = []
        self._connected = False

    # ---- the loop ----

    def run(self) -> int:
        """Serves until SIGTERM/SIGINT (returns `EXIT_OK`) or a refused key (`EXIT_KEY_REFUSED`)."""
        log.info("serving %s from %s", ", ".join(self.config.models), self.client.base_url)
        try:
            while True:
                self.shutdown.check()
                self._wait_for_abandoned_exports()
                # A signal that lands between a claim's answer and `_process` (a few
                # bytecodes) leaves its task to the lease's expiry, like a crash would.
                for task in self._claim():
                    self._process(task)
        except Shutdown as stop:
            log.info("shutting down (%s)", stop)
            return EXIT_OK
        except Unauthorized as error:
            log.error(
                "the worker key was refused (%s). Check ATELIER_WORKER_KEY: an admin makes worker keys "
                "with POST /api/v1/admin/worker-keys, and a revoked key stays refused.",
                error.message,
            )
            return EXIT_KEY_REFUSED
        except Forbidden as error:
            log.error(
                "the worker key does not serve the models asked (%s): %s. Ask only for the key's models "
                "(--models) or have an admin make a key for them.",
                ", ".join(self.config.models),
                error.message,
            )
            return EXIT_KEY_REFUSED

    def has_running_exports(self) -> bool:
        """Whether an export abandoned after its timeout is still running."""
        return any(thread.is_alive() for thread in self._abandoned)

    def _wait_for_abandoned_exports(self) -> None:
        """Takes no new work while an export that ran past its limit still holds the GPU."""
        self._abandoned = [thread for thread in self._abandoned if thread.is_alive()]
        if self._abandoned:
            log.warning("waiting for an export that ran past its limit to end before taking new work")
        for thread in self._abandoned:
            thread.join()
        self._abandoned = []

    def _claim(self) -> List[ClaimedTask]:
        """One long-polling claim; no task when the server is unreachable or busy (after a pause)."""
        try:
            tasks = self.client.claim(
                self.config.models, limit=1, wait_secs=self.config.wait_secs, instance=self.config.instance
            )
        except TransientError as error:
            delay = error.retry_after if isinstance(error, ServerBusy) and error.retry_after else self._backoff.next()
            log.warning("claiming failed (%s); trying again in %.1f s", error.message, delay)
            time.sleep(delay)
            return []
        except RequestRejected as error:
            delay = self._backoff.next()
            log.error("the server refused the claim (%s); trying again in %.1f s", error.message, delay)
            time.sleep(delay)
            return []
        self._backoff.reset()
        if not self._connected:
            self._connected = True
            log.info("connected: waiting for tasks")
        return tasks

    # ---- one task ----

    def _process(self, task: ClaimedTask) -> None:
        """Runs one claimed task and reports it, or releases it on shutdown, or drops it when its lease is lost."""
        log.info("task %s: %s, attempt %d", task.task_id, task.model, task.attempt)
        started = time.monotonic()
        heartbeat = Heartbeat(self.client, task, interval=max(1.0, task.lease_secs / 3))
        heartbeat.start()
        settled = False
        try:
            try:
                parts = self._run(task, heartbeat)
            except (LeaseLost, Unauthorized):
                raise
            except Exception as error:  # noqa: BLE001 - every failure of a task is reported as its class
                self._on_failure(task, heartbeat, error)
                settled = True
                return
            heartbeat.check()
            with self.shutdown.shielded():
                self._complete(task, parts)
                settled = True
            log.info("task %s: completed in %.1f s", task.task_id, time.monotonic() - started)
        except LeaseLost as error:
            log.warning("task %s: the lease is lost (%s); dropping it, nothing reported", task.task_id, error)
        except TransientError as error:
            log.error(
                "task %s: could not be reported (%s); its lease will expire and the server hands it out again",
                task.task_id,
                error.message,
            )
        except Shutdown:
            heartbeat.stop()
            if not settled:
                self._release(task)
            raise
        finally:
            heartbeat.stop()
        self.shutdown.check()

    def _run(self, task: ClaimedTask, heartbeat: Heartbeat) -> List[Part]:
        """Runs TRELLIS on the task; the result parts (files, then the preview)."""
        info = MODELS.get(task.model)
        if info is None:
            raise InputRejected(f"this worker does not run {task.model!r} (it runs {', '.join(MODELS)})")
        params = parse_input(task)
        preset = preset_for(params.quality)
        picture = None
        if info.kind == "image":
            picture = decode_picture(self._download_picture(task))
        elif params.prompt is None:
            raise InputRejected(f"{task.model} needs a prompt")
        heartbeat.set_progress(PROGRESS_INPUTS)

        sampled = self.engine.sample(task.model, preset, params.seed, image=picture, prompt=params.prompt)
        heartbeat.check()
        heartbeat.set_progress(PROGRESS_SAMPLED)

        preview = self._preview(task, sampled)
        parts = self._export(sampled, preset, params.formats)
        heartbeat.check()
        heartbeat.set_progress(PROGRESS_EXPORTED)
        if preview is not None:
            parts.append(export.preview_part(preview))
        return parts

    def _download_picture(self, task: ClaimedTask) -> bytes:
        """The task's picture (its first input file)."""
        if not task.input_files:
            raise InputRejected(f"task {task.task_id} has no picture")
        try:
            return self.client.download_input(task, task.input_files[0])
        except RequestRejected as error:
            raise InputRejected(f"the picture cannot be fetched: {error.message}") from error
        except TransientError as error:
            raise TransientFailure(f"the picture cannot be fetched now: {error.message}") from error

    def _preview(self, task: ClaimedTask, sampled: Sampled) -> Optional[bytes]:
        """A rendered still, or None (turned off, or it failed: a preview is never worth failing a task)."""
        if not self.config.preview:
            return None
        try:
            return self.engine.preview(sampled)
        except Exception as error:  # noqa: BLE001 - best effort
            if is_out_of_memory(error):
                raise
            log.warning("task %s: no preview (%s: %s)", task.task_id, type(error).__name__, error)
            return None

    def _export(self, sampled: Sampled, preset: Preset, formats: Sequence[str]) -> List[Part]:
        """The export stage (TRELLIS's `to_glb`, then the files) within `export_timeout_secs`.

        It runs in its own thread; past its limit it is abandoned (a thread cannot be
        stopped: it runs on, and the worker claims nothing until it ends) and the
        task fails as `timeout`.
        """
        outcome: Dict[str, Any] = {}

        def stage() -> None:
            try:
                mesh = self.engine.to_mesh(sampled, preset)
                outcome["parts"] = export.result_parts(mesh, formats)
            except Exception as error:  # noqa: BLE001 - handed to the task's thread
                outcome["error"] = error

        thread = threading.Thread(target=stage, name="export", daemon=True)
        thread.start()
        try:
            thread.join(self.config.export_timeout_secs)
        finally:
            if thread.is_alive():
                self._abandoned.append(thread)
        if thread.is_alive():
            raise ExportTimeout(
                f"the export (mesh simplification and texture baking) took longer than "
                f"{self.config.export_timeout_secs:g} s"
            )
        if "error" in outcome:
            raise outcome["error"]
        return list(outcome["parts"])

    # ---- reports ----

    def _on_failure(self, task: ClaimedTask, heartbeat: Heartbeat, error: Exception) -> None:
        """Reports a failed task as its class says (nothing when the lease is lost meanwhile)."""
        failure = classify(error)
        if failure.error_class == GENERATION_FAILED:
            log.error("task %s: TRELLIS failed", task.task_id, exc_info=error)
        else:
            log.warning("task %s: %s: %s", task.task_id, failure.error_class, failure.message)
        if is_out_of_memory(error):
            self.engine.free_memory()
        heartbeat.check()
        with self.shutdown.shielded():
            self._fail(task, failure)

    def _complete(self, task: ClaimedTask, parts: List[Part]) -> None:
        """Sends the results (a refused upload fails the task instead)."""
        try:
            self._send(lambda: self.client.complete(task, parts))
        except (PayloadTooLarge, RequestRejected) as error:
            log.error("task %s: the server refused the results: %s", task.task_id, error.message)
            self._fail(task, Failure(GENERATION_FAILED, f"the server refused the results: {error.message}"))

    def _fail(self, task: ClaimedTask, failure: Failure) -> None:
        try:
            self._send(lambda: self.client.fail(task, failure.error_class, failure.message, failure.retry_after_secs))
        except RequestRejected as error:
            log.error("task %s: the server refused the failure report: %s", task.task_id, error.message)
            self._release(task)

    def _release(self, task: ClaimedTask) -> None:
        """Gives the task back (best effort: a lost lease means it is not ours anyway)."""
        with self.shutdown.shielded():
            try:
                self.client.release(task)
                log.info("task %s: released", task.task_id)
            except LeaseLost:
                log.info("task %s: not released: its lease was already gone", task.task_id)
            except AtelierError as error:
                log.warning("task %s: could not be released (%s); its lease will expire", task.task_id, error)

    def _send(self, report: Callable[[], T]) -> T:
        """Sends a report, again (with pauses) while the server does not answer."""
        backoff = Backoff(cap_secs=10.0)
        for attempt in range(1, REPORT_TRIES + 1):
            try:
                return report()
            except TransientError as error:
                if attempt == REPORT_TRIES:
                    raise
                delay = error.retry_after if isinstance(error, ServerBusy) and error.retry_after else backoff.next()
                log.warning("reporting failed (%s); trying again in %.1f s", error.message, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

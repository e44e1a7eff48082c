"""The integration tests' harness: the real `atelier` server on a fresh data dir, and the
worker as a subprocess (`python -m atelier_trellis_worker`) with the stand-in TRELLIS.

Mirrors e2e/harness.mjs's `startServer`: a clean environment (no ATELIER* or RUST_LOG
leaking in), `--listen 127.0.0.1:0`, the URL read from the "listening" line, the
admin's key from `<data dir>/cli-key`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

import support

T = TypeVar("T")
log = logging.getLogger(__name__)

LISTENING = "Atelier is listening on http://"
START_TIMEOUT_SECS = 30.0
STOP_TIMEOUT_SECS = 15.0
TAIL_LINES = 40


def atelier_bin() -> Path:
    """The binary under test: `ATELIER_BIN` (relative paths from the repo root), else the debug
    build (under `CARGO_TARGET_DIR` when that is set, else target/)."""
    default = Path(os.environ.get("CARGO_TARGET_DIR") or "target") / "debug" / "atelier"
    return (support.REPO / os.environ.get("ATELIER_BIN", str(default))).resolve()


def ensure_binary() -> Path:
    """The binary, built first (`cargo build --locked -p atelier --bin atelier`) when the default one is missing."""
    binary = atelier_bin()
    if binary.exists():
        return binary
    if os.environ.get("ATELIER_BIN"):
        raise RuntimeError(f"ATELIER_BIN={os.environ['ATELIER_BIN']}: no such file ({binary})")
    subprocess.run(["cargo", "build", "--locked", "-p", "atelier", "--bin", "atelier"], cwd=support.REPO, check=True)
    if not binary.exists():
        raise RuntimeError(f"cargo built no {binary}")
    return binary


def wait_until(what: str, probe: Callable[[], Optional[T]], timeout: float = 15.0, every: float = 0.05) -> T:
    """Polls `probe` until it returns something other than None (or False); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last is not None and last is not False:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Output:
    """A child process's output, read line by line in a thread, kept for assertions."""

    def __init__(self, stream: Any, log_path: Path) -> None:
        self.lines: List[str] = []
        self._changed = threading.Condition()
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the reader thread
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self._log.write(line + "\n")
                self._log.flush()
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        finally:
            self._log.close()
            stream.close()

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def tail(self, count: int = TAIL_LINES) -> str:
        with self._changed:
            return "\n".join(self.lines[-count:])

    def find(self, needle: str) -> Optional[str]:
        """The first line holding `needle`, or None."""
        with self._changed:
            return next((line for line in self.lines if needle in line), None)

    def wait_for(self, needle: str, timeout: float, alive: Callable[[], bool]) -> str:
        """The first line holding `needle`, waiting up to `timeout` while the process lives."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if needle in line), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (not alive() and not self._thread.is_alive()):
                    raise AssertionError(f"no line with {needle!r} within {timeout:g} s; last lines:\n{self.tail()}")
                self._changed.wait(min(left, 0.1))

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class Response:
    """An HTTP answer: its status, headers and body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:500]!r}>"


def http(method: str, url: str, body: Any = None, key: Optional[str] = None, timeout: float = 20.0) -> Response:
    """One request (JSON body when `body` is not None); never raises on a status."""
    headers = {"Accept": "application/json"}
    data = None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers), error.read())


class AtelierServer:
    """`atelier serve` on a fresh data dir, with its admin key."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, args: Sequence[str] = ()) -> None:
        self.binary = ensure_binary()
        self.data_dir = Path(tempfile.mkdtemp(prefix="atelier-trellis-worker-"))
        child_env = {
            name: value for name, value in os.environ.items() if not name.startswith("ATELIER") and name != "RUST_LOG"
        }
        child_env.update({"ATELIER__LOG__LEVEL": "warn", "NO_COLOR": "1"})
        child_env.update(env or {})
        self.process = subprocess.Popen(
            [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir), *args],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = Output(self.process.stdout, self.data_dir / "server.log")
        try:
            line = self.output.wait_for(LISTENING, START_TIMEOUT_SECS, lambda: self.process.poll() is None)
        except AssertionError as error:
            self.stop(keep=True)
            raise RuntimeError(f"{self.binary} did not start (data dir kept: {self.data_dir}): {error}") from None
        self.url = "http://" + line.split(LISTENING, 1)[1].split()[0]
        self.admin_key = (self.data_dir / "cli-key").read_text(encoding="utf-8").strip()

    def api(self, method: str, path: str, body: Any = None, key: Optional[str] = None) -> Response:
        """A call to the API, with the admin's key unless another is given."""
        return http(method, self.url + path, body, key or self.admin_key)

    def fetch(self, url: str) -> bytes:
        """A (signed) file URL's bytes: relative URLs are the server's."""
        answer = http("GET", url if url.startswith("http") else self.url + url, key=self.admin_key)
        if answer.status != 200:
            raise AssertionError(f"GET {url} answered {answer!r}")
        return answer.body

    def create_worker_key(self, models: Sequence[str], name: str = "gpu-1") -> str:
        """A worker key for `models` (as an admin makes one)."""
        answer = self.api("POST", "/api/v1/admin/worker-keys", {"name": name, "models": list(models)})
        if answer.status != 201:
            raise AssertionError(f"making a worker key answered {answer!r}")
        return answer.json()["key"]

    def wait_for_worker(self, name: str = "gpu-1", timeout: float = 15.0) -> None:
        """Waits until the worker of key `name` has asked for work (the server then routes jobs to it)."""

        def seen() -> Optional[bool]:
            keys = self.api("GET", "/api/v1/admin/worker-keys").json() or []
            return any(key.get("name") == name and key.get("last_seen_at") for key in keys) or None

        wait_until(f"worker {name} to ask for work", seen, timeout)

    def task(self, task_id: str) -> Dict[str, Any]:
        answer = self.api("GET", f"/api/v1/tasks/{task_id}")
        if answer.status != 200:
            raise AssertionError(f"GET /api/v1/tasks/{task_id} answered {answer!r}")
        return answer.json()

    def wait_for_task(self, task_id: str, statuses: Sequence[str], timeout: float = 15.0) -> Dict[str, Any]:
        """The task once its status is one of `statuses`."""
        last: Dict[str, Any] = {}

        def probe() -> Optional[Dict[str, Any]]:
            nonlocal last
            last = self.task(task_id)
            return last if last["status"] in statuses else None

        try:
            return wait_until(f"task {task_id} to be {'/'.join(statuses)}", probe, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; it is {json.dumps(last)[:1500]}") from None

    def wait_for_job(self, job_id: str, statuses: Sequence[str], timeout: float = 15.0) -> Dict[str, Any]:
        """The job's status answer once its status is one of `statuses`."""
        last: Dict[str, Any] = {}

        def probe() -> Optional[Dict[str, Any]]:
            nonlocal last
            last = self.api("GET", f"/api/v1/jobs/{job_id}/status").json()
            return last if last["status"] in statuses else None

        try:
            return wait_until(f"job {job_id} to be {'/'.join(statuses)}", probe, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; it is {json.dumps(last)[:1500]}") from None

    def stop(self, keep: bool = False) -> None:
        """SIGTERM, then SIGKILL after 15 s; the data dir removed (kept with `keep` or ATELIER_TEST_KEEP_DATA)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.join()
        if keep or os.environ.get("ATELIER_TEST_KEEP_DATA"):
            log.warning("kept the server's data dir: %s", self.data_dir)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class WorkerProcess:
    """`python -m atelier_trellis_worker` against a server, with the stand-in TRELLIS in a given mode."""

    def __init__(
        self,
        url: str,
        key: str,
        work_dir: Path,
        mode: str = "ok",
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.record_path = work_dir / f"standin-{mode}-{time.monotonic_ns()}.jsonl"
        child_env = {name: value for name, value in os.environ.items() if not name.startswith(("ATELIER", "STANDIN_"))}
        child_env.pop("ATTN_BACKEND", None)
        child_env.pop("SPCONV_ALGO", None)
        python_path = [str(support.STANDIN), str(support.PACKAGE_ROOT)]
        if os.environ.get("PYTHONPATH"):
            python_path.append(os.environ["PYTHONPATH"])
        child_env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "ATELIER_URL": url,
                "ATELIER_WORKER_KEY": key,
                "STANDIN_TRELLIS_MODE": mode,
                "STANDIN_TRELLIS_RECORD": str(self.record_path),
            }
        )
        child_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "atelier_trellis_worker", "--wait-secs", "5", *args],
            env=child_env,
            cwd=str(work_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.output = Output(self.process.stderr, work_dir / f"worker-{self.process.pid}.log")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, needle: str, timeout: float = 15.0) -> str:
        return self.output.wait_for(needle, timeout, lambda: self.alive)

    def records(self, event: Optional[str] = None) -> List[Dict[str, Any]]:
        """The stand-in's recorded calls (of one kind)."""
        if not self.record_path.exists():
            return []
        calls = [json.loads(line) for line in self.record_path.read_text(encoding="utf-8").splitlines() if line]
        return [call for call in calls if event is None or call["event"] == event]

    def wait_for_record(self, event: str, timeout: float = 15.0) -> Dict[str, Any]:
        """The stand-in's first recorded call of kind `event`, waiting for it."""

        def first() -> Optional[Dict[str, Any]]:
            calls = self.records(event)
            return calls[0] if calls else None

        return wait_until(f"the stand-in's {event!r} call", first, timeout)

    def terminate(self, timeout: float = 10.0) -> Tuple[int, str]:
        """SIGTERM; the exit status and everything the worker logged."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 10.0) -> Tuple[int, str]:
        """Waits for the exit (SIGKILL past `timeout`, then fails); the exit status and the log."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.output.join()
            raise AssertionError(
                f"the worker did not exit within {timeout:g} s; last lines:\n{self.output.tail()}"
            ) from None
        self.output.join()
        return status, self.output.text()

    def kill(self) -> None:
        """Ends the process whatever it is doing (test clean-up)."""
        if self.alive:
            self.process.kill()
            self.process.wait()
        self.output.join()

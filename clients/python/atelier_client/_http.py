"""What the sync and async clients share: the routes, the retry policy, error
answers and the Server-Sent Events decoder. No I/O here."""

from __future__ import annotations

import email.utils
import json
import mimetypes
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx2

from .errors import AtelierError
from .models import Task

API_PREFIX = "/api/v1"

# Every route the clients call, by name: (method, path under /api/v1). The spec test
# checks each against the server's /openapi.json.
ROUTES: dict[str, tuple[str, str]] = {
    "health": ("GET", "/health"),
    "list_models": ("GET", "/models"),
    "create_task": ("POST", "/tasks"),
    "list_tasks": ("GET", "/tasks"),
    "get_task": ("GET", "/tasks/{id}"),
    "delete_task": ("DELETE", "/tasks/{id}"),
    "cancel_task": ("POST", "/tasks/{id}/cancel"),
    "retry_task": ("POST", "/tasks/{id}/retry"),
    "task_events": ("GET", "/tasks/{id}/events"),
    "list_assets": ("GET", "/assets"),
    "download_asset": ("GET", "/assets/{id}"),
    "create_upload": ("POST", "/uploads"),
    "get_upload": ("GET", "/uploads/{id}"),
    "delete_upload": ("DELETE", "/uploads/{id}"),
    "download_upload": ("GET", "/uploads/{id}/content"),
    "create_run": ("POST", "/pipelines"),
    "get_run": ("GET", "/pipelines/{id}"),
    "run_feedback": ("POST", "/pipelines/{id}/feedback"),
    "continue_run": ("POST", "/pipelines/{id}/continue"),
}

# Statuses that mean "not now": the request was not carried out, so sending it again
# is safe whatever its method.
RETRY_STATUSES = frozenset({429, 503})


def route(name: str, **params: str) -> tuple[str, str]:
    """The method and URL path of a named route, its `{params}` filled in (escaped)."""
    method, path = ROUTES[name]
    for key, value in params.items():
        path = path.replace("{" + key + "}", quote(str(value), safe=""))
    return method, API_PREFIX + path


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 429 and 503 answers, honouring `Retry-After`.

    At most `max_retries` retries; a wait the server asks for longer than `max_delay`
    seconds is not waited out: the error is raised at once. Without `Retry-After`
    the waits grow from `base_delay`, doubling, up to `max_delay`.
    """

    max_retries: int = 3
    max_delay: float = 30.0
    base_delay: float = 0.5

    def delay(self, attempt: int, error: AtelierError) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to give up."""
        if error.status not in RETRY_STATUSES or attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_delay else None
        return min(self.base_delay * 2.0**attempt, self.max_delay)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from(response: httpx2.Response) -> AtelierError:
    """The `AtelierError` an error answer stands for (read body required)."""
    code, message, details, body_retry = f"http_{response.status_code}", response.reason_phrase, None, None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        message = str(body.get("message", message))
        details = body.get("details")
        if isinstance(body.get("retry_after"), (int, float)):
            body_retry = float(body["retry_after"])
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return AtelierError(
        code,
        message,
        status=response.status_code,
        details=details,
        retry_after=retry_after if retry_after is not None else body_retry,
    )


def headers_for(api_key: str | None, user_agent: str) -> dict[str, str]:
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def query(**params: Any) -> dict[str, str]:
    """Query parameters, leaving out None; a list is joined with commas."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = str(value)
    return out


# The fields a task's creation may send (`CreateTaskRequest`); the spec test checks them.
TASK_FIELDS = ("model", "service", "input", "priority", "prompt_id", "location", "webhook", "webhook_events_filter")


def task_body(model: str | None, input: Mapping[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """`POST /tasks`'s body: the fields given, less those left None."""
    unknown = set(fields) - set(TASK_FIELDS)
    if unknown:
        raise TypeError(f"not a task field: {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {"model": model, "input": dict(input or {}), **fields}
    return {key: value for key, value in body.items() if value is not None}


def create_headers(idempotency_key: str | None, wait: float | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if wait is not None:
        headers["Prefer"] = f"wait={max(0, int(wait))}"
    return headers


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None


class SseDecoder:
    """Server-Sent Events from a stream's lines (the WHATWG rules: `data` lines
    joined, comments and unknown fields ignored, an event ends at a blank line)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def feed_all(self, lines: Iterable[str]) -> list[SseEvent]:
        return [event for line in lines if (event := self.feed(line)) is not None]


def event_task_json(event: SseEvent) -> dict[str, Any] | None:
    """A task event's task (`snapshot` and `update` carry the whole task view)."""
    if event.event not in ("snapshot", "update"):
        return None
    data = json.loads(event.data)
    return data if isinstance(data, dict) else None


# With no deadline, a stream silent this long (no event, no keep-alive) is dead.
SILENT_STREAM_SECS = 60.0

ProgressCallback = Callable[[Task], Any]
FileInput = str | os.PathLike[str] | bytes | IO[bytes]


class Watcher:
    """Calls the progress callback once per new version of the task."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._version: int | None = None

    def see(self, task: Task) -> Task:
        if self._callback is not None and task.version != self._version:
            self._callback(task)
        self._version = task.version
        return task


def remaining(deadline: float | None) -> float | None:
    """Seconds left before a `time.monotonic()` deadline (None: no deadline)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def read_timeout(deadline: float | None) -> float | None:
    """The read timeout of an event stream followed until `deadline`."""
    left = remaining(deadline)
    return None if left is None else max(0.05, left)


def file_part(file: FileInput, name: str | None, mime: str | None) -> tuple[str, bytes, str]:
    """A multipart file part: the name, the bytes read whole (so that a retry can
    send them again) and the MIME type (guessed from the name when not given)."""
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        filename, content = name or path.name, path.read_bytes()
    elif isinstance(file, bytes):
        filename, content = name or "upload", file
    else:
        filename, content = name or Path(str(getattr(file, "name", "upload"))).name, file.read()
    mime = mime or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return filename, content, mime

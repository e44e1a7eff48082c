"""Atelier's pull protocol, as a remote worker speaks it, over the standard library's HTTP.

Every call carries the worker key (`Authorization: Bearer atw_…`); every call about
a claimed task carries its lease too (`X-Atelier-Lease`). Answers that are not 2xx
become typed exceptions, so that the worker loop can tell "stop this task" from
"back off" from "this key is no good":

| answer                                  | exception          |
| --------------------------------------- | ------------------ |
| 401                                     | `Unauthorized`     |
| 403                                     | `Forbidden`        |
| 404 or 409 on a task                    | `LeaseLost`        |
| 413                                     | `PayloadTooLarge`  |
| 429, 503 (with `Retry-After`), other 5xx | `ServerBusy`       |
| no answer (refused, reset, timed out)   | `ServerUnreachable` |
| any other 4xx                           | `RequestRejected`  |

The server's errors are JSON: `{"error": code, "message": ..., "details": {...}}`.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import __version__

log = logging.getLogger(__name__)

LEASE_HEADER = "X-Atelier-Lease"
USER_AGENT = f"atelier-trellis-worker/{__version__}"

#: How long a call may take beyond a claim's own wait.
CLAIM_SLACK_SECS = 30.0
#: How long an ordinary call may take.
CALL_TIMEOUT_SECS = 60.0
#: How long uploading the results may take.
UPLOAD_TIMEOUT_SECS = 600.0


class AtelierError(Exception):
    """An answer from Atelier that is not a success, or no answer at all."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: str = "",
        details: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details: Mapping[str, Any] = details or {}


class Unauthorized(AtelierError):
    """401: the worker key is unknown or revoked. Nothing works until it is replaced."""


class Forbidden(AtelierError):
    """403: the key does not serve a model this worker asked for."""


class LeaseLost(AtelierError):
    """404 or 409 on a task: it was cancelled, deleted or handed to another worker.

    Stop working on it and report nothing.
    """


class PayloadTooLarge(AtelierError):
    """413: the results are larger than the server's `pull.max_output_bytes`."""


class RequestRejected(AtelierError):
    """Another 4xx: the server refused the request as malformed (a bug on our side)."""


class TransientError(AtelierError):
    """The server cannot answer now: try again later (after `retry_after` seconds when known)."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerBusy(TransientError):
    """429, 503 or another 5xx: back off, as `Retry-After` says when it is given."""


class ServerUnreachable(TransientError):
    """No answer: the connection was refused or reset, or the call timed out."""


@dataclass(frozen=True)
class InputFile:
    """One of a task's input files: its place, its reference, and where to fetch it."""

    position: int
    reference: str
    url: str


@dataclass(frozen=True)
class ClaimedTask:
    """A task this worker holds under a lease."""

    task_id: str
    lease: str
    lease_secs: int
    lease_expires_at: str
    #: `service/model`, such as `trellis/trellis-image-large`.
    model: str
    #: The validated input, every default filled in.
    input: Mapping[str, Any]
    attempt: int
    input_files: Tuple[InputFile, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimedTask:
        """A task as `POST /worker/claim` lists it."""
        files = tuple(
            InputFile(position=int(item["position"]), reference=str(item.get("reference", "")), url=str(item["url"]))
            for item in data.get("input_files") or ()
        )
        return cls(
            task_id=str(data["task_id"]),
            lease=str(data["lease"]),
            lease_secs=int(data.get("lease_secs") or 30),
            lease_expires_at=str(data.get("lease_expires_at", "")),
            model=str(data["model"]),
            input=dict(data.get("input") or {}),
            attempt=int(data.get("attempt") or 1),
            input_files=files,
        )


@dataclass(frozen=True)
class Part:
    """One part of a multipart form: a file under a form name."""

    #: The form name: `file` (a result), `preview` or `extra`.
    name: str
    filename: str
    content_type: str
    data: bytes


def encode_multipart(parts: Sequence[Part], boundary: Optional[str] = None) -> Tuple[bytes, str]:
    """`multipart/form-data` of `parts`, in order: the body and its `Content-Type`.

    A boundary is drawn at random (and drawn again in the unlikely case it occurs
    in a part's bytes) unless one is given.
    """
    for part in parts:
        for text in (part.name, part.filename, part.content_type):
            if any(char in text for char in '"\r\n'):
                raise ValueError(f"a form part's name, file name or type holds a quote or a newline: {text!r}")
    if boundary is None:
        boundary = "atelier-" + secrets.token_hex(16)
        while any(boundary.encode("ascii") in part.data for part in parts):
            boundary = "atelier-" + secrets.token_hex(16)
    delimiter = b"--" + boundary.encode("ascii")
    chunks: List[bytes] = []
    for part in parts:
        head = (
            f'Content-Disposition: form-data; name="{part.name}"; filename="{part.filename}"\r\n'
            f"Content-Type: {part.content_type}\r\n\r\n"
        )
        chunks.extend([delimiter, b"\r\n", head.encode("utf-8"), part.data, b"\r\n"])
    chunks.extend([delimiter, b"--\r\n"])
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` in seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class AtelierClient:
    """The calls a remote worker makes, authenticated by its worker key."""

    def __init__(self, base_url: str, worker_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = worker_key.strip()

    # ---- the protocol ----

    def claim(
        self, models: Sequence[str], *, limit: int = 1, wait_secs: int = 25, instance: str = ""
    ) -> List[ClaimedTask]:
        """Claims up to `limit` tasks of `models`, waiting up to `wait_secs` for one (an empty list after)."""
        body = {"models": list(models), "limit": limit, "wait_secs": wait_secs, "instance": instance}
        answer = self._json("POST", "/api/v1/worker/claim", body, timeout=wait_secs + CLAIM_SLACK_SECS)
        return [ClaimedTask.from_json(item) for item in answer.get("tasks") or ()]

    def heartbeat(self, task: ClaimedTask, progress: Optional[int] = None) -> str:
        """Renews the lease and reports progress (0 to 100); returns until when the lease holds."""
        body: Dict[str, Any] = {} if progress is None else {"progress": max(0, min(100, int(progress)))}
        answer = self._json("POST", self._task_path(task, "heartbeat"), body, lease=task.lease)
        return str(answer.get("lease_expires_at", ""))

    def download_input(self, task: ClaimedTask, file: InputFile) -> bytes:
        """The bytes of one of the task's input files."""
        _, data = self._call("GET", file.url, lease=task.lease, timeout=CALL_TIMEOUT_SECS, about_task=True)
        return data

    def complete(self, task: ClaimedTask, parts: Sequence[Part]) -> Dict[str, Any]:
        """Completes the task with its result files (and preview); returns the task as the server has it."""
        body, content_type = encode_multipart(parts)
        _, data = self._call(
            "POST",
            self._task_path(task, "complete"),
            body=body,
            content_type=content_type,
            lease=task.lease,
            timeout=UPLOAD_TIMEOUT_SECS,
            about_task=True,
        )
        return _decode_json(data)

    def fail(
        self, task: ClaimedTask, error_class: str, message: str, retry_after_secs: Optional[int] = None
    ) -> Dict[str, Any]:
        """Fails the task (or, as its class allows, has it retried); returns the task as the server has it."""
        body: Dict[str, Any] = {"error": error_class, "message": message}
        if retry_after_secs is not None:
            body["retry_after_secs"] = int(retry_after_secs)
        return self._json("POST", self._task_path(task, "fail"), body, lease=task.lease)

    def release(self, task: ClaimedTask) -> None:
        """Gives the task back untouched: another worker takes it at once, no attempt counted."""
        self._call(
            "POST", self._task_path(task, "release"), lease=task.lease, timeout=CALL_TIMEOUT_SECS, about_task=True
        )

    # ---- HTTP ----

    @staticmethod
    def _task_path(task: ClaimedTask, action: str) -> str:
        return f"/api/v1/worker/tasks/{task.task_id}/{action}"

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def _json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        *,
        lease: Optional[str] = None,
        timeout: float = CALL_TIMEOUT_SECS,
    ) -> Dict[str, Any]:
        _, data = self._call(
            method,
            path,
            body=json.dumps(body).encode("utf-8"),
            content_type="application/json",
            lease=lease,
            timeout=timeout,
            about_task=lease is not None,
        )
        return _decode_json(data)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        lease: Optional[str] = None,
        timeout: float,
        about_task: bool,
    ) -> Tuple[int, bytes]:
        """One request; its status and body, or the exception its answer maps to."""
        url = self._url(path)
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        if lease is not None:
            headers[LEASE_HEADER] = lease
        if body is None and method == "POST":
            body = b""
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                raise _error_for(method, path, error.code, error.headers, error.read(), about_task) from None
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            socket.timeout,
            TimeoutError,
        ) as error:
            reason = getattr(error, "reason", error)
            raise ServerUnreachable(f"{method} {url}: no answer ({reason})") from error


def _decode_json(data: bytes) -> Dict[str, Any]:
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except ValueError as error:
        raise ServerBusy(f"the server answered something that is not JSON: {data[:200]!r}") from error
    return value if isinstance(value, dict) else {"value": value}


def _error_for(method: str, path: str, status: int, headers: Any, data: bytes, about_task: bool) -> AtelierError:
    """The exception for a non-2xx answer."""
    code, message = "", ""
    details: Dict[str, Any] = {}
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {}
    if isinstance(parsed, dict):
        code = str(parsed.get("error") or "")
        message = str(parsed.get("message") or "")
        if isinstance(parsed.get("details"), dict):
            details = parsed["details"]
    if not message:
        message = data[:200].decode("utf-8", "replace").strip() or http.client.responses.get(status, "error")
    text = f"{method} {path} answered {status}{' ' + code if code else ''}: {message}"
    kwargs: Dict[str, Any] = {"status": status, "code": code, "details": details}
    retry_after = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
    if status == 401:
        return Unauthorized(text, **kwargs)
    if status == 403:
        return Forbidden(text, **kwargs)
    if about_task and status in (404, 409):
        return LeaseLost(text, **kwargs)
    if status == 413:
        return PayloadTooLarge(text, **kwargs)
    if status == 429 or status >= 500:
        return ServerBusy(text, retry_after=retry_after, **kwargs)
    return RequestRejected(text, **kwargs)

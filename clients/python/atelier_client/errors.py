"""The client's errors: every answer the server refuses is an `AtelierError`."""

from __future__ import annotations

from typing import Any

from .models import Task


class AtelierError(Exception):
    """An error answer of the API: `{"error": code, "message", "details"}`.

    `status` is the HTTP status; `retry_after` the seconds the server asked to wait
    (429 and 503), from `Retry-After` or the body's `retry_after`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.retry_after = retry_after


class WaitTimeout(TimeoutError):
    """`wait()` ran out of time before the task ended; `task` is the last state seen."""

    def __init__(self, task_id: str, timeout: float, task: Task | None) -> None:
        super().__init__(f"task {task_id} did not end within {timeout:g} s")
        self.task_id = task_id
        self.timeout = timeout
        self.task = task

"""Why a task fails, in the classes Atelier's `POST /worker/tasks/{id}/fail` takes.

| class               | when                                        | Atelier then          |
| ------------------- | ------------------------------------------- | --------------------- |
| `provider_rejected` | the input is unusable (not a picture, ...)   | fails it, no retry    |
| `provider_error`    | transient: out of memory, input unreachable | retries it (3 tries)  |
| `timeout`           | the export stage ran past its limit         | retries it (3 tries)  |
| `generation_failed` | TRELLIS itself failed                       | fails it (502)        |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

GENERATION_FAILED = "generation_failed"
TIMEOUT = "timeout"
PROVIDER_REJECTED = "provider_rejected"
PROVIDER_ERROR = "provider_error"

#: How long Atelier waits before handing a task that ran out of memory out again.
OUT_OF_MEMORY_RETRY_AFTER_SECS = 30

#: The longest message sent (the server keeps 2,000 characters).
MAX_MESSAGE_CHARS = 2000


class InputRejected(Exception):
    """The task's input cannot be used (bad picture, unknown quality, ...): not retried."""


class ExportTimeout(Exception):
    """The export stage (mesh post-processing and texture baking) ran past its limit."""


class TransientFailure(Exception):
    """Something that may work later (the input's source did not answer): retried."""


@dataclass(frozen=True)
class Failure:
    """A failure as reported to Atelier."""

    error_class: str
    message: str
    retry_after_secs: Optional[int] = None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is the GPU (or the host) running out of memory.

    Matched by name and message so that torch need not be imported:
    `torch.cuda.OutOfMemoryError` ("CUDA out of memory. Tried to allocate ..."),
    a plain `RuntimeError` from older torch or from a CUDA extension, cuBLAS's
    allocation failure, and Python's own `MemoryError`.
    """
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return "out of memory" in text or "cublas_status_alloc_failed" in text


def classify(error: BaseException) -> Failure:
    """The failure to report for an exception raised while running a task."""
    message = describe(error)
    if isinstance(error, InputRejected):
        return Failure(PROVIDER_REJECTED, message)
    if isinstance(error, ExportTimeout):
        return Failure(TIMEOUT, message)
    if is_out_of_memory(error):
        return Failure(PROVIDER_ERROR, message, retry_after_secs=OUT_OF_MEMORY_RETRY_AFTER_SECS)
    if isinstance(error, TransientFailure):
        return Failure(PROVIDER_ERROR, message)
    return Failure(GENERATION_FAILED, message)


def describe(error: BaseException) -> str:
    """A one-line message for `error`, its type named when it is not one of ours."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, (InputRejected, ExportTimeout, TransientFailure)):
        text = f"{type(error).__name__}: {text}"
    return text[:MAX_MESSAGE_CHARS]

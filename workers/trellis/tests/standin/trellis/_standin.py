"""The stand-in's switches (environment variables) and its call record."""

from __future__ import annotations

import json
import os
import time
from typing import Any

MODE_VAR = "STANDIN_TRELLIS_MODE"
RECORD_VAR = "STANDIN_TRELLIS_RECORD"
DELAY_VAR = "STANDIN_TRELLIS_DELAY_SECS"

MODES = ("ok", "fail", "oom", "slow", "slow_export")

#: What a real CUDA allocation failure says (torch.cuda.OutOfMemoryError's message).
OUT_OF_MEMORY = (
    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.77 GiB total capacity; "
    "13.21 GiB already allocated; 1.05 GiB free; 13.50 GiB reserved in total by PyTorch)"
)


def mode() -> str:
    """The behaviour asked for (`ok` when unset)."""
    value = os.environ.get(MODE_VAR, "ok").strip() or "ok"
    if value not in MODES:
        raise ValueError(f"{MODE_VAR}={value!r}: use one of {', '.join(MODES)}")
    return value


def delay() -> float:
    """How long `slow` and `slow_export` take."""
    return float(os.environ.get(DELAY_VAR, "20"))


def sleep(seconds: float) -> None:
    """Sleeps in short steps, as a GPU job runs many short kernels (signals get through)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def record(event: str, **fields: Any) -> None:
    """Appends one call to the record file, when one is set."""
    path = os.environ.get(RECORD_VAR)
    if not path:
        return
    line = json.dumps({"event": event, "pid": os.getpid(), "time": time.time(), **fields}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")

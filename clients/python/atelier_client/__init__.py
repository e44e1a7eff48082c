"""A typed client for Atelier's native API (`/api/v1`): `Client` (sync) and
`AsyncClient` (async), over httpx2."""

from ._http import RetryPolicy
from .aio import AsyncClient
from .client import Client
from .errors import AtelierError, WaitTimeout
from .models import (
    TERMINAL_STATUSES,
    Asset,
    AssetPage,
    Health,
    MalformedAnswer,
    ModelInfo,
    ModelList,
    Phase,
    Run,
    RunAndVersion,
    RunError,
    Task,
    TaskError,
    TaskPage,
    Upload,
    Version,
)

__all__ = [
    "TERMINAL_STATUSES",
    "Asset",
    "AssetPage",
    "AsyncClient",
    "AtelierError",
    "Client",
    "Health",
    "MalformedAnswer",
    "ModelInfo",
    "ModelList",
    "Phase",
    "RetryPolicy",
    "Run",
    "RunAndVersion",
    "RunError",
    "Task",
    "TaskError",
    "TaskPage",
    "Upload",
    "Version",
    "WaitTimeout",
]

"""What the API answers, as frozen dataclasses shared by `Client` and `AsyncClient`.

Each class names the OpenAPI schema it reads (`SCHEMA`) and each field the JSON
property it comes from (`wire()`), so that the tests can check every field against
the server's `/openapi.json`. The whole answer stays in `raw`, for what is not modelled.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, ClassVar, Self

# A task in one of these has ended: its status changes no more.
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})


def wire(name: str | None = None, *, required: bool = True, decode: Callable[[Any], Any] | None = None) -> Any:
    """A field read from the JSON property `name` (the field's own name by default).

    An optional field is None when the property is absent or null.
    """
    return field(metadata={"json": name, "required": required, "decode": decode})


class MalformedAnswer(ValueError):
    """The server's answer lacks a field the API documents as always present."""


class Wire:
    """Reads a dataclass from its JSON object by its fields' `wire()` metadata."""

    SCHEMA: ClassVar[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if not isinstance(data, dict):
            raise MalformedAnswer(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for item in fields(cls):  # type: ignore[arg-type]
            if item.name == "raw":
                values["raw"] = data
                continue
            key = item.metadata.get("json") or item.name
            value = data.get(key)
            if value is None:
                if item.metadata.get("required", True):
                    raise MalformedAnswer(f"{cls.__name__}: the answer has no {key!r}")
                values[item.name] = None if item.default is MISSING else item.default
                continue
            decode = item.metadata.get("decode")
            values[item.name] = decode(value) if decode else value
        return cls(**values)


def list_of(kind: type[Wire]) -> Callable[[Any], list[Any]]:
    return lambda items: [kind.from_json(item) for item in items]


@dataclass(frozen=True)
class TaskError(Wire):
    SCHEMA = "TaskErrorView"
    code: str = wire()
    message: str = wire()
    retryable: bool = wire()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Asset(Wire):
    """An output file (the API calls them images, whatever their kind)."""

    SCHEMA = "ImageWithTask"
    id: str = wire("image_id")
    url: str = wire()
    size: int = wire("file_size")
    mime_type: str = wire()
    sha256: str = wire()
    tags: list[str] = wire()
    role: str = wire()
    width: int | None = wire(required=False)
    height: int | None = wire(required=False)
    thumbnail_url: str | None = wire(required=False)
    # Present in asset lists, not in a task's own outputs.
    task_id: str | None = wire(required=False)
    created_at: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Task(Wire):
    SCHEMA = "TaskView"
    id: str = wire("task_id")
    status: str = wire()
    progress: int = wire()
    service: str = wire()
    model: str = wire()
    input: dict[str, Any] = wire()
    outputs: list[Asset] = wire("images", decode=list_of(Asset))
    attempts: int = wire()
    retry_count: int = wire()
    priority: int = wire()
    version: int = wire()
    created_at: str = wire()
    events_url: str = wire()
    error: TaskError | None = wire(required=False, decode=TaskError.from_json)
    started_at: str | None = wire(required=False)
    completed_at: str | None = wire(required=False)
    expires_at: str | None = wire(required=False)
    retry_of: str | None = wire(required=False)
    prompt_id: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def ended(self) -> bool:
        """Whether the task has ended (completed, failed, cancelled or expired)."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class TaskPage(Wire):
    SCHEMA = "TaskListView"
    tasks: list[Task] = wire(decode=list_of(Task))
    next_cursor: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class AssetPage(Wire):
    SCHEMA = "AssetListView"
    assets: list[Asset] = wire("images", decode=list_of(Asset))
    next_cursor: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Upload(Wire):
    SCHEMA = "UploadView"
    id: str = wire()
    name: str = wire()
    mime: str = wire()
    size: int = wire("bytes")
    sha256: str = wire()
    url: str = wire()
    created_at: str = wire()
    width: int | None = wire(required=False)
    height: int | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ModelInfo(Wire):
    SCHEMA = "ModelView"
    id: str = wire()
    service: str = wire()
    model: str = wire()
    title: str = wire()
    description: str = wire()
    modality: str = wire()
    usable: bool = wire()
    is_default: bool = wire()
    estimated_time: int = wire()
    input_schema: dict[str, Any] = wire()
    aliases: list[str] = wire()
    requires_config: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ModelList(Wire):
    SCHEMA = "ModelListView"
    models: list[ModelInfo] = wire(decode=list_of(ModelInfo))
    default_model: str = wire()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Health(Wire):
    SCHEMA = "HealthView"
    status: str = wire()
    database: str = wire()
    storage: str = wire()
    version: str = wire()
    reason: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class RunError(Wire):
    SCHEMA = "RunErrorView"
    code: str = wire()
    message: str = wire()
    phase: int = wire()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Phase(Wire):
    SCHEMA = "PhaseView"
    number: int = wire()
    name: str = wire()
    title: str = wire()
    state: str = wire()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Run(Wire):
    """A pipeline run (a story made into a manga, phase by phase)."""

    SCHEMA = "RunView"
    id: str = wire()
    pipeline: str = wire()
    status: str = wire()
    phase: int = wire()
    phases: list[Phase] = wire(decode=list_of(Phase))
    progress: int = wire()
    revision: int = wire()
    created_at: str = wire()
    updated_at: str = wire()
    head_version_id: str | None = wire(required=False)
    note: str | None = wire(required=False)
    waiting_until: str | None = wire(required=False)
    request_id: str | None = wire(required=False)
    error: RunError | None = wire(required=False, decode=RunError.from_json)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Version(Wire):
    """A version of a run's document (a phase's result, or a person's change)."""

    SCHEMA = "VersionView"
    id: str = wire()
    run_id: str = wire()
    phase: int = wire()
    kind: str = wire()
    description: str = wire()
    document: Any = wire()
    created_at: str = wire()
    parent_id: str | None = wire(required=False)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class RunAndVersion(Wire):
    SCHEMA = "RunAndVersionView"
    run: Run = wire(decode=Run.from_json)
    version: Version = wire(decode=Version.from_json)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


# Every model class, for the spec check.
ALL_MODELS: tuple[type[Wire], ...] = (
    TaskError, Asset, Task, TaskPage, AssetPage, Upload, ModelInfo, ModelList,
    Health, RunError, Phase, Run, Version, RunAndVersion,
)

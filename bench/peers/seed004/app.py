"""Seed 004's own design, as a peer for Atelier's bench (`scripts/bench --only peers`).

Seed 004 ("image generation web app over VolcEngine") describes a FastAPI backend
with SQLAlchemy over SQLite: a `tasks` table and an `images` table, `POST
/api/v1/generate` answering 201 with the task's id while the work happens in the
background, task states PENDING -> PROCESSING -> COMPLETED | FAILED (FAILED ->
RETRYING -> PROCESSING while retries remain), and clients polling `GET
/api/v1/task/{task_id}`. This file is that design written as a competent FastAPI
developer would write it, not a strawman:

- SQLAlchemy 2.x ORM (typed `Mapped` columns), one session per request (the
  `get_session` dependency), sync endpoints that FastAPI runs in its thread pool;
- SQLite in WAL mode with `synchronous=NORMAL` and a busy timeout, set on every new
  connection; the indexes the seed lists (task_id unique, status, created_at);
- background workers as asyncio tasks started by the app's lifespan (the seed's
  "task manager"), each claiming one pending task at a time with an atomic
  `UPDATE ... RETURNING` (no two workers take the same task), woken by an event
  when a task is created and polling every `POLL_SECONDS` otherwise;
- an "instant" engine: no provider call; it writes one tiny image row (the seed's
  `images` table) and the task's `result_images`, then COMPLETED.

Run it under uvicorn with one worker process (the bench does):
    uvicorn app:app --workers 1 --host 127.0.0.1 --port PORT --no-access-log
Settings (environment): SEED004_DB (SQLite file, default ./seed004.db),
SEED004_WORKERS (background workers, default 4).

Only the endpoints the bench uses and the seed's status endpoints are here:
generate, task, tasks (status filter), system/info (counts by status, the seed's
"queue length" metric), health.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload, sessionmaker

DB_PATH = os.environ.get("SEED004_DB", "seed004.db")
WORKERS = int(os.environ.get("SEED004_WORKERS", "4"))
POLL_SECONDS = 0.05
MAX_RETRIES = 3

PENDING, PROCESSING, COMPLETED, FAILED, RETRYING = "pending", "processing", "completed", "failed", "retrying"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=PENDING)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[Optional[str]] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    num_images: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)
    seed: Mapped[Optional[int]] = mapped_column(Integer)
    result_images: Mapped[Optional[list[Any]]] = mapped_column(JSON)
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    images: Mapped[list["Image"]] = relationship(back_populates="task", order_by="Image.id")


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[str] = mapped_column(String(36), index=True)
    task_pk: Mapped[int] = mapped_column("task_id", ForeignKey("tasks.id"), index=True)
    file_path: Mapped[str] = mapped_column(String(255))
    thumbnail_path: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    task: Mapped[Task] = relationship(back_populates="images")


engine = create_engine(
    f"sqlite:///{DB_PATH}",
    connect_args={"check_same_thread": False, "timeout": 30},
    pool_size=8,
    max_overflow=16,
)


@event.listens_for(engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


class GenerateRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=2000)
    negative_prompt: Optional[str] = None
    model: str = "general_v2.0"
    width: int = Field(default=1024, ge=64, le=2048)
    height: int = Field(default=1024, ge=64, le=2048)
    num_images: int = Field(default=1, ge=1, le=4)
    steps: int = Field(default=20, ge=1, le=100)
    scale: float = Field(default=7.5, ge=0, le=30)
    seed: Optional[int] = None


def iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment else None


def task_view(task: Task) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status,
        "progress": 100 if task.status == COMPLETED else 0,
        "prompt": task.prompt,
        "model": task.model,
        "retry_count": task.retry_count,
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "completed_at": iso(task.completed_at),
    }
    if task.status == COMPLETED:
        view["images"] = [
            {
                "image_id": image.image_id,
                "url": f"/api/v1/images/{image.image_id}",
                "thumbnail_url": f"/api/v1/images/{image.image_id}/thumbnail",
                "width": image.width,
                "height": image.height,
                "file_size": image.file_size,
            }
            for image in task.images
        ]
    if task.error_message:
        view["error_message"] = task.error_message
    return view


# --- the task manager: background workers --------------------------------------------

wakeup = asyncio.Event()


def claim_one() -> Optional[int]:
    """Marks the oldest pending (or retrying) task PROCESSING; its primary key, or None."""
    with SessionLocal() as session, session.begin():
        oldest = (
            select(Task.id)
            .where(Task.status.in_((PENDING, RETRYING)))
            .order_by(Task.created_at)
            .limit(1)
            .scalar_subquery()
        )
        claimed = session.execute(
            update(Task)
            .where(Task.id == oldest, Task.status.in_((PENDING, RETRYING)))
            .values(status=PROCESSING, started_at=utcnow())
            .returning(Task.id)
        ).scalar_one_or_none()
    return claimed


def run_instant_engine(task_pk: int) -> None:
    """The instant engine: no provider call, one tiny image row, then COMPLETED."""
    with SessionLocal() as session, session.begin():
        task = session.get(Task, task_pk)
        if task is None:
            return
        try:
            image_id = str(uuid.uuid4())
            image = Image(
                image_id=image_id,
                task_pk=task.id,
                file_path=f"images/{image_id}.png",
                thumbnail_path=f"thumbnails/{image_id}.webp",
                file_size=68,
                width=1,
                height=1,
            )
            session.add(image)
            task.result_images = [{"image_id": image_id, "url": f"/api/v1/images/{image_id}"}]
            task.status = COMPLETED
            task.completed_at = utcnow()
        except Exception as error:  # the seed's FAILED -> RETRYING path
            task.retry_count += 1
            task.error_message = str(error)
            task.status = RETRYING if task.retry_count < MAX_RETRIES else FAILED


async def worker() -> None:
    while True:
        task_pk = await asyncio.to_thread(claim_one)
        if task_pk is None:
            wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), POLL_SECONDS)
            continue
        await asyncio.to_thread(run_instant_engine, task_pk)


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI):
    Base.metadata.create_all(engine)
    workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    app.state.loop = asyncio.get_running_loop()
    yield
    for task in workers:
        task.cancel()


app = FastAPI(title="seed 004", lifespan=lifespan)


@app.post("/api/v1/generate", status_code=201)
def generate(request: GenerateRequest, session: Session = Depends(get_session)) -> dict[str, Any]:
    task = Task(
        task_id=str(uuid.uuid4()),
        status=PENDING,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        model=request.model,
        width=request.width,
        height=request.height,
        num_images=request.num_images,
        steps=request.steps,
        scale=request.scale,
        seed=request.seed,
        retry_count=0,
        created_at=utcnow(),
    )
    session.add(task)
    session.commit()
    app.state.loop.call_soon_threadsafe(wakeup.set)
    return {"task_id": task.task_id, "status": task.status, "created_at": iso(task.created_at), "estimated_time": 30}


@app.get("/api/v1/task/{task_id}")
def get_task(task_id: str, session: Session = Depends(get_session)) -> dict[str, Any]:
    task = session.scalars(
        select(Task).where(Task.task_id == task_id).options(selectinload(Task.images))
    ).one_or_none()
    if task is None:
        raise HTTPException(status_code=404, detail={"error": "not_found", "message": "task not found"})
    return task_view(task)


@app.get("/api/v1/tasks")
def list_tasks(
    status: Optional[str] = None,
    limit: int = Query(default=20, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    query = select(Task).options(selectinload(Task.images)).order_by(Task.created_at.desc())
    if status:
        query = query.where(Task.status.in_(status.split(",")))
    tasks = session.scalars(query.limit(limit).offset(offset)).all()
    return {"tasks": [task_view(task) for task in tasks], "limit": limit, "offset": offset}


@app.get("/api/v1/system/info")
def system_info(session: Session = Depends(get_session)) -> dict[str, Any]:
    counts = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).tuples().all())
    return {
        "workers": WORKERS,
        "queue_length": counts.get(PENDING, 0) + counts.get(RETRYING, 0),
        "tasks": counts,
    }


@app.get("/api/v1/health")
def health() -> dict[str, str]:
    return {"status": "healthy"}

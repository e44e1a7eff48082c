"""`AsyncClient`: the asynchronous client (asyncio or trio, through httpx2)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import httpx2

from . import _http
from ._http import FileInput, ProgressCallback, RetryPolicy, route
from .errors import AtelierError, WaitTimeout
from .client import USER_AGENT
from .models import Asset, AssetPage, Health, ModelList, Run, RunAndVersion, Task, TaskPage, Upload


class AsyncClient:
    """Atelier's native API (`/api/v1`), asynchronously: `Client`'s methods, awaited.

    `base_url` is the server's root (`http://127.0.0.1:8080`, or `$ATELIER_URL`);
    `api_key` defaults to `$ATELIER_API_KEY`. `timeout` bounds each request (seconds;
    None: no limit); `retry` says how 429 and 503 answers are retried. Use it as an
    async context manager, or await `close()`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("ATELIER_URL", "http://127.0.0.1:8080")
        api_key = api_key if api_key is not None else os.environ.get("ATELIER_API_KEY")
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._client = httpx2.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_http.headers_for(api_key, USER_AGENT),
            timeout=timeout,
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # The one place requests are sent: errors raised, 429 and 503 retried.
    async def _send(self, name: str, *, path_params: Mapping[str, str] | None = None, stream: bool = False,
              timeout: httpx2.Timeout | None = None, **kwargs: Any) -> httpx2.Response:
        method, path = route(name, **(path_params or {}))
        attempt = 0
        while True:
            request = self._client.build_request(method, path, timeout=timeout or self._timeout, **kwargs)
            response = await self._client.send(request, stream=stream)
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            error = _http.error_from(response)
            delay = self.retry.delay(attempt, error)
            if delay is None:
                raise error
            await anyio.sleep(delay)
            attempt += 1

    async def _json(self, name: str, **kwargs: Any) -> Any:
        return (await self._send(name, **kwargs)).json()

    # System
    async def health(self) -> Health:
        """The server's readiness (a 503 when degraded is raised as `AtelierError`)."""
        return Health.from_json(await self._json("health"))

    async def list_models(self) -> ModelList:
        return ModelList.from_json(await self._json("list_models"))

    # Tasks
    async def create_task(
        self,
        model: str | None = None,
        input: Mapping[str, Any] | None = None,
        *,
        service: str | None = None,
        priority: int = 0,
        idempotency_key: str | None = None,
        prompt_id: str | None = None,
        location: Mapping[str, Any] | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        wait: float | None = None,
    ) -> Task:
        """Creates a task. With `idempotency_key`, sending it again returns the same
        task; with `wait` (seconds, `Prefer: wait`), the answer waits for the end.
        `location` is `{"latitude": ..., "longitude": ...}` or `{"location_id": ...}`;
        `webhook` a URL the task's events are posted to (`webhook_events_filter`:
        `start`, `output`, `logs`, `completed`)."""
        body = _http.task_body(model, input, service=service, priority=priority, prompt_id=prompt_id,
                               location=location, webhook=webhook, webhook_events_filter=webhook_events_filter)
        headers = _http.create_headers(idempotency_key, wait)
        read = None if self._timeout is None or wait is None else self._timeout + wait
        timeout = None if wait is None else httpx2.Timeout(self._timeout, read=read)
        return Task.from_json(await self._json("create_task", json=body, headers=headers, timeout=timeout))

    async def get_task(self, task_id: str) -> Task:
        return Task.from_json(await self._json("get_task", path_params={"id": task_id}))

    async def list_tasks(
        self,
        *,
        status: str | list[str] | None = None,
        model: str | None = None,
        tag: str | None = None,
        prompt_id: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        near: str | None = None,
        radius_km: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        """One page of your tasks, newest first; `next_cursor` leads to the next.

        `status` takes one status or several; `near` is `"<latitude>,<longitude>"`
        with `radius_km`; times are RFC 3339.
        """
        params = _http.query(status=status, model=model, tag=tag, prompt_id=prompt_id,
                             created_after=created_after, created_before=created_before,
                             near=near, radius_km=radius_km, cursor=cursor, limit=limit)
        return TaskPage.from_json(await self._json("list_tasks", params=params))

    async def iter_tasks(
        self,
        *,
        status: str | list[str] | None = None,
        model: str | None = None,
        tag: str | None = None,
        prompt_id: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        near: str | None = None,
        radius_km: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Task]:
        """Every task the filters (`list_tasks`'s) select, page after page."""
        while True:
            page = await self.list_tasks(
                status=status, model=model, tag=tag, prompt_id=prompt_id, created_after=created_after,
                created_before=created_before, near=near, radius_km=radius_km, cursor=cursor,
                limit=limit,
            )
            for task in page.tasks:
                yield task
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def cancel_task(self, task_id: str) -> Task:
        return Task.from_json(await self._json("cancel_task", path_params={"id": task_id}))

    async def retry_task(self, task_id: str) -> Task:
        """A new task with the same input as an ended one (`retry_of` names it)."""
        return Task.from_json(await self._json("retry_task", path_params={"id": task_id}))

    async def delete_task(self, task_id: str) -> None:
        await self._send("delete_task", path_params={"id": task_id})

    async def task_events(self, task_id: str, *, read_timeout: float | None = None) -> AsyncGenerator[Task, None]:
        """The task as it changes (Server-Sent Events): its state now, then every
        change; ends after the task ends (or when the server closes the stream)."""
        timeout = httpx2.Timeout(self._timeout, read=_http.SILENT_STREAM_SECS if read_timeout is None else read_timeout)
        response = await self._send("task_events", path_params={"id": task_id}, stream=True, timeout=timeout,
                              headers={"Accept": "text/event-stream"})
        try:
            decoder = _http.SseDecoder()
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None and (data := _http.event_task_json(event)) is not None:
                    yield Task.from_json(data)
        finally:
            await response.aclose()

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        poll_interval: float = 1.0,
        use_events: bool = True,
    ) -> Task:
        """The task once it has ended (completed, failed, cancelled or expired).

        Follows its event stream; when the stream cannot be had or breaks, polls
        every `poll_interval` seconds (and tries the stream again). `on_progress` is
        called with each new state of the task. Raises `WaitTimeout` after `timeout`
        seconds (None: no limit).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        watcher = _http.Watcher(on_progress)
        while True:
            if use_events:
                try:
                    # Closed on leaving, not when collected: the stream's connection goes back now.
                    events = self.task_events(task_id, read_timeout=_http.read_timeout(deadline))
                    async with aclosing(events):
                        async for task in events:
                            if watcher.see(task).ended:
                                return task
                            if _http.remaining(deadline) == 0:
                                break
                except AtelierError as error:
                    if error.status < 500:
                        raise
                except httpx2.TransportError:
                    pass  # a timeout or a broken stream: poll instead
            task = watcher.see(await self.get_task(task_id))
            if task.ended:
                return task
            remaining = _http.remaining(deadline)
            if remaining == 0:
                raise WaitTimeout(task_id, timeout or 0.0, task)
            await anyio.sleep(poll_interval if remaining is None else min(poll_interval, remaining))

    # Assets
    async def list_assets(
        self,
        *,
        kind: str | None = None,
        model: str | None = None,
        tag: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        near: str | None = None,
        radius_km: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AssetPage:
        """One page of your outputs, newest first (`kind`: image, audio, video, model)."""
        params = _http.query(kind=kind, model=model, tag=tag, created_after=created_after,
                             created_before=created_before, near=near, radius_km=radius_km,
                             cursor=cursor, limit=limit)
        return AssetPage.from_json(await self._json("list_assets", params=params))

    async def iter_assets(
        self,
        *,
        kind: str | None = None,
        model: str | None = None,
        tag: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        near: str | None = None,
        radius_km: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Asset]:
        """Every output the filters (`list_assets`'s) select, page after page."""
        while True:
            page = await self.list_assets(
                kind=kind, model=model, tag=tag, created_after=created_after,
                created_before=created_before, near=near, radius_km=radius_km, cursor=cursor,
                limit=limit,
            )
            for asset in page.assets:
                yield asset
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def download_asset(self, asset_id: str) -> bytes:
        """An output file's bytes."""
        return (await self._send("download_asset", path_params={"id": asset_id})).content

    async def download_asset_to(self, asset_id: str, path: str | os.PathLike[str]) -> Path:
        """Streams an output file to `path` (written whole or not at all)."""
        return await self._stream_to("download_asset", asset_id, Path(path))

    async def _stream_to(self, name: str, item_id: str, path: Path) -> Path:
        partial = path.with_name(path.name + ".part")
        response = await self._send(name, path_params={"id": item_id}, stream=True)
        try:
            async with await anyio.open_file(partial, "wb") as file:
                async for chunk in response.aiter_bytes():
                    await file.write(chunk)
            partial.replace(path)
        finally:
            await response.aclose()
            partial.unlink(missing_ok=True)
        return path

    # Uploads
    async def upload(self, file: FileInput, *, name: str | None = None, mime: str | None = None) -> Upload:
        """Uploads a file (a path, bytes or a binary file) for use as a task input."""
        files = {"file": _http.file_part(file, name, mime)}
        return Upload.from_json(await self._json("create_upload", files=files))

    async def get_upload(self, upload_id: str) -> Upload:
        return Upload.from_json(await self._json("get_upload", path_params={"id": upload_id}))

    async def download_upload(self, upload_id: str) -> bytes:
        return (await self._send("download_upload", path_params={"id": upload_id})).content

    async def delete_upload(self, upload_id: str) -> None:
        await self._send("delete_upload", path_params={"id": upload_id})

    # Pipelines
    async def create_manga_run(self, text: str, **options: Any) -> Run:
        """Starts a manga run from a story; `options` are the API's own fields
        (`text_model`, `image_model`, `last_phase`, `feedback_mode`, `options`, ...)."""
        body = {"text": text, **{key: value for key, value in options.items() if value is not None}}
        return Run.from_json(await self._json("create_run", json=body))

    async def get_run(self, run_id: str) -> Run:
        return Run.from_json(await self._json("get_run", path_params={"id": run_id}))

    async def run_feedback(self, run_id: str, change_type: str, *, element_id: str | None = None,
                     change_data: Any = None) -> RunAndVersion:
        """A change to the run's current version; answers the run and the new version."""
        body: dict[str, Any] = {"change_type": change_type}
        if element_id is not None:
            body["element_id"] = element_id
        if change_data is not None:
            body["change_data"] = change_data
        return RunAndVersion.from_json(await self._json("run_feedback", path_params={"id": run_id}, json=body))

    async def continue_run(self, run_id: str) -> Run:
        """Goes on to the next phase without waiting out the feedback time."""
        return Run.from_json(await self._json("continue_run", path_params={"id": run_id}))

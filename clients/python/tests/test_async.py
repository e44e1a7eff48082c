"""`AsyncClient` against the real server: the same calls as `Client`, awaited."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from atelier_client import AsyncClient, AtelierError, Task, WaitTimeout

from support import server


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = server()
        self.client = AsyncClient(self.server.url, self.server.key, timeout=20)

    async def asyncTearDown(self) -> None:
        await self.client.close()

    async def test_waits_for_tasks_at_once(self) -> None:
        tasks = await asyncio.gather(*(
            self.client.create_task("local/instant", {"delay_ms": 1000, "seed": n}) for n in range(3)
        ))
        seen: dict[str, list[str]] = {task.id: [] for task in tasks}
        done = await asyncio.gather(*(
            self.client.wait(task.id, timeout=30, on_progress=lambda state: seen[state.id].append(state.status))
            for task in tasks
        ))
        self.assertEqual([task.status for task in done], ["completed"] * 3)
        for statuses in seen.values():
            self.assertEqual(statuses[-1], "completed")
            self.assertGreaterEqual(len(statuses), 2, "a state before the end too")
        data = await self.client.download_asset(done[0].outputs[0].id)
        self.assertEqual(hashlib.sha256(data).hexdigest(), done[0].outputs[0].sha256)
        with tempfile.TemporaryDirectory() as folder:
            path = await self.client.download_asset_to(done[0].outputs[0].id, Path(folder) / "a.png")
            self.assertEqual(path.read_bytes(), data)

    async def test_events_end_after_the_task_ends(self) -> None:
        task = await self.client.create_task("local/instant", {"delay_ms": 300})
        states: list[Task] = [state async for state in self.client.task_events(task.id)]
        self.assertEqual(states[-1].status, "completed")
        self.assertTrue(all(not state.ended for state in states[:-1]))

    async def test_wait_timeout(self) -> None:
        task = await self.client.create_task("local/instant", {"delay_ms": 5000})
        started = time.monotonic()
        with self.assertRaises(WaitTimeout):
            await self.client.wait(task.id, timeout=0.5)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual((await self.client.cancel_task(task.id)).status, "cancelled")

    async def test_pages_and_errors(self) -> None:
        created = [await self.client.create_task("local/qr", {"text": f"async {n}"}) for n in range(3)]
        # Done first, so that no output appears between the two asset listings.
        await asyncio.gather(*(self.client.wait(task.id, timeout=30) for task in created))
        walked = [task.id async for task in self.client.iter_tasks(model="local/qr", limit=2)]
        whole = await self.client.list_tasks(model="local/qr", limit=500)
        self.assertEqual(walked, [task.id for task in whole.tasks])
        assets = [asset.id async for asset in self.client.iter_assets(model="local/qr", limit=2)]
        whole_assets = await self.client.list_assets(model="local/qr", limit=500)
        self.assertEqual(assets, [asset.id for asset in whole_assets.assets])
        self.assertGreaterEqual(len(assets), 3)
        with self.assertRaises(AtelierError) as caught:
            await self.client.get_task(str(uuid.uuid4()))
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))

    async def test_upload(self) -> None:
        image = await self.client.create_task("local/qr", {"text": "upload me"}, wait=20)
        data = await self.client.download_asset(image.outputs[0].id)
        upload = await self.client.upload(data, name="qr.png")
        self.assertEqual(upload.mime, "image/png")
        self.assertEqual(await self.client.download_upload(upload.id), await self.client.download_upload(upload.id))
        await self.client.delete_upload(upload.id)


if __name__ == "__main__":
    unittest.main()

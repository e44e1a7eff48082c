"""`Client` against the real server (scripts/client-tests starts it with the
`local/instant` engine on, and members limited to one task at a time)."""

from __future__ import annotations

import hashlib
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from atelier_client import AtelierError, Client, RetryPolicy, Task, WaitTimeout

from support import STORY, server

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class SyncClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server = server()
        cls.client = Client(cls.server.url, cls.server.key, timeout=20)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def slow_task(self, delay_ms: int) -> Task:
        return self.client.create_task("local/instant", {"delay_ms": delay_ms, "seed": uuid.uuid4().int % 10**9})

    def test_health_and_models(self) -> None:
        self.assertEqual(self.client.health().status, "ok")
        models = self.client.list_models()
        placeholder = next(model for model in models.models if model.id == "local/placeholder")
        self.assertTrue(placeholder.usable)
        self.assertIn("prompt", placeholder.input_schema["properties"])
        self.assertIn(models.default_model, {model.id for model in models.models})

    def test_wait_follows_events_and_outputs_download(self) -> None:
        task = self.slow_task(1500)
        self.assertEqual(task.status, "pending")
        seen: list[Task] = []
        done = self.client.wait(task.id, timeout=30, on_progress=seen.append)
        self.assertEqual(done.status, "completed")
        self.assertTrue(done.ended)
        versions = [state.version for state in seen]
        self.assertEqual(versions, sorted(set(versions)), "each state once, in order")
        self.assertTrue(any(not state.ended for state in seen), "states before the end were reported")
        self.assertEqual(seen[-1].status, "completed")
        [output] = done.outputs
        data = self.client.download_asset(output.id)
        self.assertTrue(data.startswith(PNG_SIGNATURE))
        self.assertEqual((len(data), hashlib.sha256(data).hexdigest()), (output.size, output.sha256))
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_asset_to(output.id, Path(folder) / "out.png")
            self.assertEqual(path.read_bytes(), data)
            self.assertEqual(sorted(p.name for p in Path(folder).iterdir()), ["out.png"])

    def test_wait_by_polling(self) -> None:
        task = self.slow_task(300)
        statuses: list[str] = []
        done = self.client.wait(task.id, timeout=30, poll_interval=0.1, use_events=False,
                                on_progress=lambda state: statuses.append(state.status))
        self.assertEqual(done.status, "completed")
        self.assertEqual(statuses[-1], "completed")

    def test_wait_times_out_with_the_last_state(self) -> None:
        task = self.slow_task(5000)
        started = time.monotonic()
        with self.assertRaises(WaitTimeout) as caught:
            self.client.wait(task.id, timeout=0.5)
        self.assertLess(time.monotonic() - started, 3)
        self.assertIsNotNone(caught.exception.task)
        self.assertFalse(caught.exception.task.ended)
        self.client.cancel_task(task.id)

    def test_prefer_wait_answers_the_finished_task(self) -> None:
        task = self.client.create_task("local/placeholder", {"prompt": "blue", "width": 64, "height": 64}, wait=20)
        self.assertEqual(task.status, "completed")
        self.assertEqual((task.outputs[0].width, task.outputs[0].height), (64, 64))

    def test_idempotency_key(self) -> None:
        key = f"py-{uuid.uuid4()}"
        first = self.client.create_task("local/instant", {"seed": 1}, idempotency_key=key)
        again = self.client.create_task("local/instant", {"seed": 1}, idempotency_key=key)
        self.assertEqual(first.id, again.id)
        with self.assertRaises(AtelierError) as caught:
            self.client.create_task("local/instant", {"seed": 2}, idempotency_key=key)
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "idempotency_key_reused"))

    def test_pages_walk_to_the_same_list(self) -> None:
        created = {self.client.create_task("local/qr", {"text": f"page {n}"}).id for n in range(5)}
        walked = [task.id for task in self.client.iter_tasks(model="local/qr", limit=2)]
        whole = self.client.list_tasks(model="local/qr", limit=500)
        self.assertIsNone(whole.next_cursor)
        self.assertEqual(walked, [task.id for task in whole.tasks])
        self.assertLessEqual(created, set(walked))
        self.assertEqual(len(walked), len(set(walked)), "no task twice")
        first = self.client.list_tasks(model="local/qr", limit=2)
        self.assertEqual(len(first.tasks), 2)
        self.assertIsNotNone(first.next_cursor)

    def test_cancel_retry_delete(self) -> None:
        task = self.slow_task(5000)
        cancelled = self.client.cancel_task(task.id)
        self.assertEqual(cancelled.status, "cancelled")
        with self.assertRaises(AtelierError) as caught:
            self.client.cancel_task(task.id)
        self.assertEqual(caught.exception.status, 409)
        again = self.client.retry_task(task.id)
        self.assertNotEqual(again.id, task.id)
        self.assertEqual(again.retry_of, task.id)
        self.assertEqual(again.input, cancelled.input)
        self.client.cancel_task(again.id)
        self.client.delete_task(task.id)
        with self.assertRaises(AtelierError) as caught:
            self.client.get_task(task.id)
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))

    def test_validation_error_carries_its_details(self) -> None:
        with self.assertRaises(AtelierError) as caught:
            self.client.create_task("local/placeholder", {"prompt": ""})
        error = caught.exception
        self.assertEqual((error.status, error.code), (422, "validation_error"))
        self.assertEqual(error.details["field"], "prompt")
        self.assertTrue(error.message)

    def test_too_many_tasks_is_429_with_retry_after(self) -> None:
        # Members may run one task at a time here; the server asks for a 5 s wait,
        # longer than this client may wait, so the error comes at once.
        with Client(self.server.url, self.server.member_key, retry=RetryPolicy(max_retries=3, max_delay=1)) as member:
            first = member.create_task("local/instant", {"delay_ms": 3000})
            try:
                started = time.monotonic()
                with self.assertRaises(AtelierError) as caught:
                    member.create_task("local/instant", {"delay_ms": 10})
                self.assertLess(time.monotonic() - started, 1)
                error = caught.exception
                self.assertEqual((error.status, error.code), (429, "rate_limit_exceeded"))
                self.assertEqual(error.retry_after, 5)
            finally:
                member.cancel_task(first.id)

    def test_upload_round_trip(self) -> None:
        image = self.client.create_task("local/placeholder", {"prompt": "green", "width": 64, "height": 64}, wait=20)
        data = self.client.download_asset(image.outputs[0].id)
        upload = self.client.upload(data, name="green.png")
        self.assertEqual((upload.mime, upload.name, upload.width, upload.height), ("image/png", "green.png", 64, 64))
        stored = self.client.download_upload(upload.id)
        self.assertEqual((upload.size, upload.sha256), (len(stored), hashlib.sha256(stored).hexdigest()))
        self.assertEqual(self.client.get_upload(upload.id).id, upload.id)
        self.client.delete_upload(upload.id)
        with self.assertRaises(AtelierError) as caught:
            self.client.get_upload(upload.id)
        self.assertEqual(caught.exception.status, 404)

    def test_manga_run_feedback_and_continue(self) -> None:
        run = self.client.create_manga_run(STORY, last_phase=2, feedback_mode={"enabled": True, "timeout_seconds": 600})
        self.assertEqual((run.pipeline, run.phase), ("manga", 1))
        deadline = time.monotonic() + 20
        while run.status == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
            run = self.client.get_run(run.id)
        self.assertEqual(run.status, "waiting_input")
        changed = self.client.run_feedback(run.id, "text_edit", element_id="concept.title",
                                           change_data={"new_value": "The Lighthouse"})
        self.assertEqual(changed.version.document["concept"]["title"], "The Lighthouse")
        self.assertEqual(changed.version.kind, "feedback")
        self.assertEqual(changed.run.head_version_id, changed.version.id)
        moved = self.client.continue_run(run.id)
        self.assertEqual(moved.phase, 2)


if __name__ == "__main__":
    unittest.main()

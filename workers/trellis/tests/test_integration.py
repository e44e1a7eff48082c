"""The worker against the real Atelier server, end to end.

A stand-in replaces TRELLIS (tests/standin/trellis): its weights and an NVIDIA GPU
are not available on the machines these tests run on. Everything but the model
itself is exercised: the real `atelier` binary (`ATELIER_BIN`, default
target/debug/atelier, built when missing) on a fresh data dir, a worker key made by
the admin, the worker as its own process (`python -m atelier_trellis_worker`)
claiming over the pull protocol, downloading the picture, heartbeating, and
completing with a real GLB and OBJ zip (the stand-in's `to_glb` returns a real
textured trimesh), failing with the right class, releasing its task on SIGTERM,
dropping a task whose lease is lost, and refusing to run with a bad key.

Each test has its own server (it starts in a fraction of a second) and worker.
"""

from __future__ import annotations

import base64
import io
import shutil
import socket
import tempfile
import unittest
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import support  # noqa: F401 - first: the stand-in TRELLIS and the package on sys.path
import harness
from harness import AtelierServer, WorkerProcess, wait_until

IMAGE_MODEL = "trellis/trellis-image-large"
TEXT_MODEL = "trellis/trellis-text-xlarge"
FORGED_KEY = "atw_0123456789ab_" + "A" * 43


def setUpModule() -> None:  # noqa: N802 - unittest's name
    harness.ensure_binary()


class ServerTestCase(unittest.TestCase):
    """A fresh server per test, and helpers to start workers and jobs on it."""

    #: Extra server environment (its configuration), per test class.
    server_env: Mapping[str, str] = {}

    def setUp(self) -> None:
        self.server = AtelierServer(env=self.server_env)
        self.addCleanup(self.server.stop)
        self.work_dir = Path(tempfile.mkdtemp(prefix="atelier-trellis-worker-test-"))
        self.addCleanup(shutil.rmtree, self.work_dir, True)
        self.key: Optional[str] = None

    def start_worker(
        self,
        mode: str = "ok",
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        key: Optional[str] = None,
        url: Optional[str] = None,
        wait: bool = True,
    ) -> WorkerProcess:
        """A worker (with a new key serving both models unless one is given); waits until it asked for work."""
        if key is None:
            self.key = self.key or self.server.create_worker_key([IMAGE_MODEL, TEXT_MODEL])
            key = self.key
        worker = WorkerProcess(url or self.server.url, key, self.work_dir, mode=mode, args=args, env=env)
        self.addCleanup(worker.kill)
        if wait:
            self.server.wait_for_worker()
        return worker

    def start_image_job(self, quality: str = "fast", formats: Sequence[str] = ("glb", "obj")) -> Dict[str, Any]:
        """`POST /api/v1/generate/image-to-3d` with a picture made here; asserts TRELLIS takes it."""
        body = {
            "image_base64": base64.b64encode(support.picture_png()).decode("ascii"),
            "quality": quality,
            "output_formats": list(formats),
        }
        answer = self.server.api("POST", "/api/v1/generate/image-to-3d", body)
        self.assertEqual(answer.status, 202, answer)
        job = answer.json()
        self.assertEqual(job["engine"], IMAGE_MODEL, job)
        self.assertIsNone(job.get("degraded"), job)
        return job

    def assert_close_colour(self, actual: Sequence[float], expected: Sequence[float], tolerance: float = 30) -> None:
        for got, want in zip(actual, expected):
            self.assertLessEqual(abs(got - want), tolerance, f"colour {list(actual)} is not near {list(expected)}")


class CompletedJobs(ServerTestCase):
    def test_an_image_job_completes_with_a_real_glb_obj_zip_and_preview(self) -> None:
        import trimesh
        from PIL import Image

        worker = self.start_worker(args=["--attn-backend", "xformers", "--spconv-algo", "native"])
        job = self.start_image_job(quality="fast", formats=["glb", "obj"])
        status = self.server.wait_for_job(job["job_id"], ["completed", "failed"], timeout=20)
        self.assertEqual(status["status"], "completed", status)

        answer = self.server.api("GET", f"/api/v1/jobs/{job['job_id']}/result")
        self.assertEqual(answer.status, 200, answer)
        result = answer.json()
        self.assertEqual([file["format"] for file in result["files"]], ["glb", "obj", "preview"], result)
        self.assertEqual(
            [file["mime"] for file in result["files"]], ["model/gltf-binary", "application/zip", "image/png"]
        )

        # The GLB: a textured mesh whose texture carries the picture's colour.
        glb = self.server.fetch(result["result_urls"]["glb"])
        mesh = trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh")
        self.assertGreater(len(mesh.faces), 0)
        self.assertEqual(mesh.visual.kind, "texture")
        texture = mesh.visual.material.baseColorTexture
        self.assertEqual(texture.size, (512, 512), "the fast preset's texture size")
        self.assert_close_colour(support.mean_colour(texture), support.PICTURE_COLOUR)

        # The OBJ zip: model.obj, model.mtl and texture.png, which load back as a textured mesh.
        archive = zipfile.ZipFile(io.BytesIO(self.server.fetch(result["result_urls"]["obj"])))
        self.assertEqual(sorted(archive.namelist()), ["model.mtl", "model.obj", "texture.png"])
        self.assertIn("map_Kd texture.png", archive.read("model.mtl").decode("utf-8"))
        unpacked = self.work_dir / "obj"
        archive.extractall(unpacked)
        loaded = trimesh.load(unpacked / "model.obj", force="mesh")
        self.assertEqual(len(loaded.faces), len(mesh.faces))
        self.assertEqual(loaded.visual.kind, "texture")

        preview_url = next(file["url"] for file in result["files"] if file["format"] == "preview")
        preview = Image.open(io.BytesIO(self.server.fetch(preview_url)))
        self.assertEqual((preview.format, preview.size), ("PNG", (512, 512)))

        # What TRELLIS was asked: the fast preset, the task's seed, the picture sent.
        run = worker.records("run")
        self.assertEqual(len(run), 1, run)
        self.assertEqual(run[0]["pipeline"], "TrellisImageTo3DPipeline")
        self.assertEqual(run[0]["sparse_structure_sampler_params"], {"steps": 8, "cfg_strength": 7.5})
        self.assertEqual(run[0]["slat_sampler_params"], {"steps": 8, "cfg_strength": 3.0})
        self.assertEqual(run[0]["seed"], 0, "seed 002's route leaves the seed at its default")
        self.assertEqual((run[0]["num_samples"], run[0]["preprocess_image"]), (1, True))
        self.assertEqual(sorted(run[0]["formats"]), ["gaussian", "mesh"])
        self.assertEqual(run[0]["image_size"], [48, 48])
        self.assert_close_colour(run[0]["image_colour"], support.PICTURE_COLOUR)
        [to_glb] = worker.records("to_glb")
        self.assertEqual((to_glb["simplify"], to_glb["texture_size"], to_glb["fill_holes"]), (0.97, 512, True))
        self.assertEqual(
            [(call["pipeline"], call["path"]) for call in worker.records("load")],
            [("TrellisImageTo3DPipeline", "microsoft/TRELLIS-image-large")],
        )
        self.assertEqual([call["device"] for call in worker.records("to_device")], ["cuda"])
        [imported] = worker.records("import")
        self.assertEqual((imported["attn_backend"], imported["spconv_algo"]), ("xformers", "native"))

        task = self.server.task(job["job_id"])
        self.assertEqual((task["attempts"], task["progress"]), (1, 100), task)
        self.assertTrue(worker.alive, "the worker serves on")
        self.assertIsNotNone(worker.output.find("completed"), worker.output.tail())

    def test_a_text_task_runs_with_the_high_preset_and_its_seed(self) -> None:
        worker = self.start_worker()
        body = {
            "model": TEXT_MODEL,
            "input": {"prompt": "a small wooden chair", "quality": "high", "seed": 1234, "output_formats": ["obj"]},
        }
        answer = self.server.api("POST", "/api/v1/tasks", body)
        self.assertEqual(answer.status, 202, answer)
        task = self.server.wait_for_task(answer.json()["task_id"], ["completed", "failed"], timeout=20)
        self.assertEqual(task["status"], "completed", task)

        [run] = worker.records("run")
        self.assertEqual(
            (run["pipeline"], run["prompt"], run["seed"]), ("TrellisTextTo3DPipeline", "a small wooden chair", 1234)
        )
        self.assertEqual(run["sparse_structure_sampler_params"], {"steps": 25, "cfg_strength": 7.5})
        self.assertEqual(run["slat_sampler_params"], {"steps": 25, "cfg_strength": 3.0})
        [to_glb] = worker.records("to_glb")
        self.assertEqual((to_glb["simplify"], to_glb["texture_size"]), (0.90, 2048))

        outputs = [(image["role"], image["mime_type"]) for image in task["images"]]
        self.assertEqual(outputs, [("primary", "application/zip"), ("preview", "image/png")], task["images"])
        archive = zipfile.ZipFile(io.BytesIO(self.server.fetch(task["images"][0]["url"])))
        self.assertEqual(sorted(archive.namelist()), ["model.mtl", "model.obj", "texture.png"])


class FailedJobs(ServerTestCase):
    def test_a_failing_pipeline_fails_the_job_as_the_engines_fault(self) -> None:
        worker = self.start_worker(mode="fail")
        job = self.start_image_job()
        status = self.server.wait_for_job(job["job_id"], ["failed", "completed"])
        self.assertEqual((status["status"], status["error_code"]), ("failed", "generation_failed"), status)
        self.assertIn("sparse structure sampler", status["error_message"])
        answer = self.server.api("GET", f"/api/v1/jobs/{job['job_id']}/result")
        self.assertEqual(answer.status, 502, answer)
        self.assertEqual(answer.json()["error"], "engine_failed")
        self.assertEqual(worker.records("to_glb"), [], "nothing exported after a failure")
        self.assertTrue(worker.alive, "the worker serves on")

    def test_running_out_of_gpu_memory_has_the_task_retried(self) -> None:
        worker = self.start_worker(mode="oom")
        job = self.start_image_job()
        task = self.server.wait_for_task(job["job_id"], ["retrying", "failed", "completed"])
        self.assertEqual(task["status"], "retrying", task)
        self.assertEqual(task["error"]["code"], "provider_error", task)
        self.assertTrue(task["error"]["retryable"], task)
        self.assertIn("CUDA out of memory", task["error"]["message"])
        self.assertEqual(task["attempts"], 1)
        self.assertTrue(worker.alive)

    def test_an_export_past_its_limit_fails_as_a_timeout(self) -> None:
        worker = self.start_worker(
            mode="slow_export", args=["--export-timeout", "1"], env={"STANDIN_TRELLIS_DELAY_SECS": "4"}
        )
        job = self.start_image_job()
        task = self.server.wait_for_task(job["job_id"], ["retrying", "failed", "completed"])
        self.assertEqual((task["status"], task["error"]["code"]), ("retrying", "timeout"), task)
        self.assertIn("took longer than 1 s", task["error"]["message"])
        # The abandoned export still holds the GPU: no new work until it ends; a
        # SIGTERM meanwhile still ends the worker at once.
        worker.wait_for_log("before taking new work")
        status, log = worker.terminate(timeout=5)
        self.assertEqual(status, 0, log)


class Shutdowns(ServerTestCase):
    def test_sigterm_mid_job_releases_the_task_for_another_worker(self) -> None:
        worker = self.start_worker(mode="slow", env={"STANDIN_TRELLIS_DELAY_SECS": "30"})
        job = self.start_image_job()
        worker.wait_for_record("run")
        # The heartbeat reported the inputs' progress.
        wait_until("progress 5", lambda: self.server.task(job["job_id"])["progress"] == 5, timeout=10)

        status, log = worker.terminate(timeout=10)
        self.assertEqual(status, 0, log)
        self.assertIn("released", log)
        task = self.server.task(job["job_id"])
        self.assertEqual((task["status"], task["attempts"]), ("pending", 0), task)
        self.assertEqual(self.server.api("GET", f"/api/v1/jobs/{job['job_id']}/status").json()["status"], "pending")
        self.assertEqual(worker.records("to_glb"), [])

        # Claimable at once: another worker finishes it, with no attempt lost.
        second = self.start_worker(mode="ok", wait=False)
        task = self.server.wait_for_task(job["job_id"], ["completed", "failed"], timeout=20)
        self.assertEqual((task["status"], task["attempts"]), ("completed", 1), task)
        self.assertEqual(len(second.records("run")), 1)

    def test_sigterm_while_waiting_for_work_exits_at_once(self) -> None:
        worker = self.start_worker()
        status, log = worker.terminate(timeout=5)
        self.assertEqual(status, 0, log)
        self.assertIn("shutting down", log)


class LostLease(ServerTestCase):
    # Heartbeats every second: the cancellation is seen within the stand-in's run.
    server_env = {"ATELIER__WORKER__LEASE_SECS": "3"}

    def test_a_cancelled_task_is_dropped_and_nothing_is_reported(self) -> None:
        worker = self.start_worker(mode="slow", env={"STANDIN_TRELLIS_DELAY_SECS": "4"})
        job = self.start_image_job()
        worker.wait_for_record("run")
        answer = self.server.api("POST", f"/api/v1/tasks/{job['job_id']}/cancel")
        self.assertEqual(answer.status, 200, answer)

        worker.wait_for_log("dropping it, nothing reported", timeout=15)
        self.assertEqual(worker.records("to_glb"), [], "no export after the lease was lost")
        self.assertIsNone(worker.output.find("completed in"), worker.output.tail())
        self.assertEqual(self.server.task(job["job_id"])["status"], "cancelled")
        self.assertTrue(worker.alive, "the worker serves on")
        status, log = worker.terminate(timeout=5)
        self.assertEqual(status, 0, log)


class Keys(ServerTestCase):
    def test_a_forged_key_stops_the_worker_with_a_message(self) -> None:
        worker = self.start_worker(key=FORGED_KEY, wait=False)
        status, log = worker.wait(timeout=15)
        self.assertEqual(status, 3, log)
        self.assertIn("the worker key was refused", log)
        self.assertIn("ATELIER_WORKER_KEY", log)

    def test_a_key_that_does_not_serve_a_model_asked_stops_the_worker(self) -> None:
        key = self.server.create_worker_key([IMAGE_MODEL], name="image-only")
        worker = self.start_worker(key=key, wait=False)  # asks for both models
        status, log = worker.wait(timeout=15)
        self.assertEqual(status, 3, log)
        self.assertIn("does not serve", log)

    def test_an_unreachable_server_is_retried_until_shutdown(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
        worker = self.start_worker(url=closed, wait=False)
        worker.wait_for_log("claiming failed", timeout=10)
        self.assertTrue(worker.alive)
        status, log = worker.terminate(timeout=5)
        self.assertEqual(status, 0, log)


if __name__ == "__main__":
    unittest.main()

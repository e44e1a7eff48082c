"""Seed 002's image-to-3D jobs under load, for atelier-bench's 3d section.

Each user, over and over: POST /api/v1/generate/image-to-3d (an upload made once,
before the run, by atelier-bench), GET /api/v1/jobs/{id}/status every 0.5 s until
the job has completed, then GET /api/v1/jobs/{id}/result. The requests are named
"POST image-to-3d", "GET status" and "GET result", so locust's statistics group them.

atelier-bench starts the server, the emulated TRELLIS workers and this file:
    locust -f bench/locust/three_d.py --headless -u USERS -r RATE -t DURATION \
        --host URL --csv PREFIX --only-summary
with these variables:
    ATELIER_BENCH_KEY        the admin's API key (sent as a Bearer token)
    ATELIER_BENCH_UPLOAD     the picture's upload id (upl_...)
    ATELIER_BENCH_QUALITY    fast (default), balanced or high
    ATELIER_BENCH_POLL_SECS  the status poll's interval (default 0.5)
    ATELIER_BENCH_JOBS_OUT   a JSON file to write the jobs' own counts to at the end:
                             completed, failed, unfinished when the run stopped, the
                             engines the 202s named, each completed job's time from
                             its POST to the status that said completed, and the
                             run's start and end (seconds, monotonic)
"""

import json
import os
import time

import gevent
from locust import HttpUser, constant, events, task

KEY = os.environ["ATELIER_BENCH_KEY"]
UPLOAD = os.environ["ATELIER_BENCH_UPLOAD"]
QUALITY = os.environ.get("ATELIER_BENCH_QUALITY", "fast")
POLL_SECS = float(os.environ.get("ATELIER_BENCH_POLL_SECS", "0.5"))
JOBS_OUT = os.environ.get("ATELIER_BENCH_JOBS_OUT")

JOBS = {
    "completed": 0,
    "failed": 0,
    "refused": 0,
    "unfinished": 0,
    "engines": {},
    "errors": {},
    "completed_ms": [],
    "started_at": None,
    "stopped_at": None,
}


def note_error(kind):
    JOBS["errors"][kind] = JOBS["errors"].get(kind, 0) + 1


@events.test_start.add_listener
def on_test_start(**_kwargs):
    JOBS["started_at"] = time.monotonic()


@events.test_stop.add_listener
def on_test_stop(**_kwargs):
    JOBS["stopped_at"] = time.monotonic()
    if JOBS_OUT:
        with open(JOBS_OUT, "w", encoding="utf-8") as out:
            json.dump(JOBS, out)


class ImageTo3dUser(HttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {KEY}"

    @task
    def image_to_3d(self):
        body = {"image_url": UPLOAD, "quality": QUALITY, "output_formats": ["glb", "obj"]}
        sent = time.monotonic()
        with self.client.post(
            "/api/v1/generate/image-to-3d", json=body, name="POST image-to-3d", catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                JOBS["refused"] += 1
                note_error(f"POST HTTP {response.status_code}")
                # Not at once again: a refusal (429, 503) says to wait.
                gevent.sleep(POLL_SECS)
                return
            job = response.json()
            job_id = job["job_id"]
            engine = job.get("engine", "?")
            JOBS["engines"][engine] = JOBS["engines"].get(engine, 0) + 1
        # Until it ends here: what is left when the run stops had not finished.
        JOBS["unfinished"] += 1

        while True:
            gevent.sleep(POLL_SECS)
            with self.client.get(
                f"/api/v1/jobs/{job_id}/status", name="GET status", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                    note_error(f"status HTTP {response.status_code}")
                    continue
                status = response.json().get("status")
            if status == "completed":
                break
            if status == "failed":
                JOBS["unfinished"] -= 1
                JOBS["failed"] += 1
                note_error("job failed")
                return
        took_ms = (time.monotonic() - sent) * 1000.0
        JOBS["unfinished"] -= 1

        with self.client.get(
            f"/api/v1/jobs/{job_id}/result", name="GET result", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                note_error(f"result HTTP {response.status_code}")
                return
            if not response.json().get("result_urls"):
                response.failure("no result_urls")
                note_error("result without result_urls")
                return
        JOBS["completed"] += 1
        JOBS["completed_ms"].append(took_ms)

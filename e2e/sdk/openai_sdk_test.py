"""The official OpenAI Python SDK, unchanged, against Atelier's /v1 (scripts/sdk-tests
starts the server and sets ATELIER_URL, ATELIER_KEY and ATELIER_MEMBER_KEY)."""

import base64
import io
import json
import os
import struct
import time
import unittest
import urllib.request
import warnings
import wave

import openai
from PIL import Image

URL = os.environ["ATELIER_URL"]
KEY = os.environ["ATELIER_KEY"]
MEMBER_KEY = os.environ["ATELIER_MEMBER_KEY"]

# The SDK marks its Videos API deprecated (OpenAI's Sora); Atelier's video models stay.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*Sora.*")


def client(key=KEY, **options):
    return openai.OpenAI(base_url=f"{URL}/v1", api_key=key, **options)


def native(path, key=KEY, body=None):
    """Atelier's own API, to see the tasks the SDK's calls made."""
    request = urllib.request.Request(
        f"{URL}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def png(width=64, height=64, colour=(200, 40, 40)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


class Images(unittest.TestCase):
    def test_generations_come_back_in_both_formats_from_a_local_model(self):
        answer = client().images.generate(
            model="local/placeholder", prompt="a red fox", n=2, size="512x256", response_format="b64_json"
        )
        self.assertEqual(len(answer.data), 2)
        for item in answer.data:
            image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
            self.assertEqual(image.size, (512, 256))
        # By URL (the default for models other than GPT Image): a signed link, no key needed.
        answer = client().images.generate(model="local/placeholder", prompt="a blue whale", size="256x256")
        self.assertIsNone(answer.data[0].b64_json)
        with urllib.request.urlopen(answer.data[0].url, timeout=30) as link:
            self.assertEqual(Image.open(io.BytesIO(link.read())).size, (256, 256))
        self.assertGreater(answer.created, 1_700_000_000)

    def test_generations_reach_openai_through_atelier(self):
        answer = client().images.generate(model="openai/gpt-image-1", prompt="a lighthouse", size="1024x1536")
        image = Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json)))
        self.assertEqual(image.size, (1024, 1536))
        self.assertEqual(answer.size, "1024x1536")

    def test_an_edit_sends_its_files_and_is_a_task_like_any_other(self):
        answer = client().images.edit(
            model="openai/gpt-image-1",
            image=[("a.png", png(), "image/png"), ("b.png", png(colour=(20, 20, 220)), "image/png")],
            prompt="put them side by side",
            size="1024x1024",
        )
        self.assertEqual(Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))).size, (1024, 1024))
        tasks = native("/tasks?limit=10")["tasks"]
        edit = next(task for task in tasks if task["model"] == "gpt-image-1" and task["input"].get("images"))
        self.assertEqual(len(edit["input"]["images"]), 2)
        self.assertTrue(all(image.startswith("upl_") for image in edit["input"]["images"]))
        self.assertEqual(edit["status"], "completed")

    def test_errors_are_the_sdks_own_exceptions(self):
        with self.assertRaises(openai.NotFoundError):
            client().images.generate(model="local/no-such-model", prompt="x")
        with self.assertRaises(openai.BadRequestError) as caught:
            client().images.generate(model="local/placeholder", prompt="x", size="huge")
        self.assertEqual(caught.exception.param, "size")
        with self.assertRaises(openai.BadRequestError) as caught:
            client().images.generate(model="local/placeholder", prompt="x", extra_body={"no_such_field": 1})
        self.assertEqual(caught.exception.code, "unknown_parameter")
        with self.assertRaises(openai.AuthenticationError):
            client(key="atl_wrong").images.generate(model="local/placeholder", prompt="x")
        with self.assertRaises(openai.BadRequestError) as caught:
            client().images.generate(model="local/speech", prompt="x")
        self.assertEqual(caught.exception.param, "model")


class Speech(unittest.TestCase):
    def test_speech_comes_back_as_the_format_asked(self):
        text = "Atelier speaks through the OpenAI SDK."
        audio = client().audio.speech.create(model="local/speech", voice="alloy", input=text, response_format="wav")
        with wave.open(io.BytesIO(audio.read())) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        self.assertGreater(seconds, 1.0)
        pcm = client().audio.speech.create(model="local/speech", voice="alloy", input=text, response_format="pcm")
        raw = pcm.read()
        self.assertFalse(raw.startswith(b"RIFF"))
        # 24 kHz 16-bit mono, as OpenAI's pcm: about as long as the WAV.
        self.assertAlmostEqual(len(raw) / 2 / 24_000, seconds, delta=0.5)
        samples = struct.unpack(f"<{len(raw) // 2}h", raw[: len(raw) // 2 * 2])
        self.assertGreater(max(abs(s) for s in samples), 1000)
        mp3 = client().audio.speech.create(model="local/speech", voice="alloy", input=text).read()
        self.assertTrue(mp3.startswith(b"ID3") or mp3[0] == 0xFF, mp3[:8])

    def test_openais_own_voices_go_through_atelier(self):
        audio = client().audio.speech.create(model="openai/tts-1", voice="nova", input="Hello.", response_format="wav")
        self.assertTrue(audio.read().startswith(b"RIFF"))


class Videos(unittest.TestCase):
    def test_a_slideshow_is_made_polled_and_downloaded(self):
        sdk = client()
        video = sdk.videos.create(
            model="local/slideshow",
            prompt="A red square",
            seconds="2",
            size="320x240",
            input_reference=("first.png", png(320, 240), "image/png"),
        )
        self.assertIn(video.status, ("queued", "in_progress", "completed"))
        # The video is a task like any other: its id is the task's.
        self.assertEqual(native(f"/tasks/{video.id}")["model"], "slideshow")
        done = sdk.videos.poll(video.id, poll_interval_ms=200)
        self.assertEqual(done.status, "completed", done.error)
        self.assertEqual(done.progress, 100)
        content = sdk.videos.download_content(done.id).read()
        self.assertEqual(content[4:8], b"ftyp")
        self.assertEqual(done.size, "320x240")

    def test_sora_through_atelier(self):
        sdk = client()
        done = sdk.videos.create_and_poll(model="openai/sora-2", prompt="waves", seconds="4", poll_interval_ms=200)
        self.assertEqual(done.status, "completed", done.error)
        self.assertEqual(sdk.videos.download_content(done.id).read()[4:8], b"ftyp")
        self.assertEqual(sdk.videos.delete(done.id).deleted, True)
        with self.assertRaises(openai.NotFoundError):
            sdk.videos.retrieve(done.id)


SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "scenes": {"type": "array", "items": {"type": "string"}}},
    "required": ["title", "scenes"],
    "additionalProperties": False,
}


class Chat(unittest.TestCase):
    def ask(self, model, **options):
        return client().chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "You plan short films."},
                {"role": "user", "content": "Plan a film about a fox in three scenes."},
            ],
            response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": SCHEMA, "strict": True}},
            **options,
        )

    def check_plan(self, text):
        plan = json.loads(text)
        self.assertIsInstance(plan["title"], str)
        self.assertIsInstance(plan["scenes"], list)
        self.assertEqual(set(plan), {"title", "scenes"})

    def test_a_json_schema_answer(self):
        answer = self.ask("openai/gpt-4o-mini")
        self.assertEqual(answer.object, "chat.completion")
        self.assertEqual(answer.choices[0].finish_reason, "stop")
        self.assertEqual(answer.choices[0].message.role, "assistant")
        self.check_plan(answer.choices[0].message.content)
        # The chat is a text task like any other.
        task = native(f"/tasks/{answer.id.removeprefix('chatcmpl-')}")
        self.assertEqual((task["model"], task["input"]["schema"]), ("gpt-4o-mini", SCHEMA))

    def test_a_streamed_answer_is_the_same_answer_in_chunks(self):
        stream = self.ask("openai/gpt-4o-mini", stream=True)
        pieces, finish = [], None
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            delta = chunk.choices[0].delta
            pieces.append(delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        self.assertEqual(finish, "stop")
        self.check_plan("".join(pieces))

    def test_a_model_that_cannot_answer_says_why(self):
        # local/planner is a rule-based planner for the manga's phases, not a language model.
        with self.assertRaises(openai.BadRequestError) as caught:
            self.ask("local/planner")
        self.assertIn("not a language model", caught.exception.message)
        with self.assertRaises(openai.APIError):
            for _ in self.ask("local/planner", stream=True):
                pass


class RetriesAndTimeouts(unittest.TestCase):
    def test_a_429_with_retry_after_is_retried_by_the_sdk(self):
        # The member key's role runs one task at a time: a slow one holds the slot,
        # so the SDK's call is refused with 429 and Retry-After, then retried.
        slow = native("/tasks", MEMBER_KEY, {"model": "local/instant", "input": {"prompt": "hold", "delay_ms": 1500}})
        started = time.monotonic()
        raw = client(MEMBER_KEY, max_retries=3).images.with_raw_response.generate(
            model="local/placeholder", prompt="after the slow one", size="128x128", response_format="b64_json"
        )
        elapsed = time.monotonic() - started
        # Refused at first, then let in once the slow task ended (a busy machine may
        # take one more wait).
        self.assertIn(raw.retries_taken, (1, 2))
        self.assertGreaterEqual(elapsed, 4.5)  # Retry-After: 5
        self.assertEqual(len(raw.parse().data), 1)
        self.assertEqual(native(f"/tasks/{slow['task_id']}", MEMBER_KEY)["status"], "completed")

    def test_a_client_timeout_leaves_the_task_running(self):
        before = {task["task_id"] for task in native("/tasks?limit=50")["tasks"]}
        with self.assertRaises(openai.APITimeoutError):
            client(timeout=1.0, max_retries=0).images.generate(
                model="local/instant", prompt="slow", extra_body={"delay_ms": 2500}
            )
        made = [task for task in native("/tasks?limit=50")["tasks"] if task["task_id"] not in before]
        self.assertEqual(len(made), 1)
        deadline = time.monotonic() + 20
        while native(f"/tasks/{made[0]['task_id']}")["status"] != "completed":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)


class Models(unittest.TestCase):
    def test_the_model_list_names_what_model_takes(self):
        ids = {model.id for model in client().models.list()}
        self.assertIn("local/placeholder", ids)
        self.assertIn("openai/gpt-image-1", ids)
        self.assertEqual(client().models.retrieve("local/placeholder").owned_by, "local")


if __name__ == "__main__":
    unittest.main()

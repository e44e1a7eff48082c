"""The worker's own logic, in process: failure classes, input checks, picture decoding,
the engine's calls into (stand-in) TRELLIS, and reporting against a fake client."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence
from unittest import mock

import support
from atelier_trellis_worker import worker as worker_module
from atelier_trellis_worker.client import ClaimedTask, LeaseLost, Part, PayloadTooLarge, ServerUnreachable
from atelier_trellis_worker.engine import IMAGE_MODEL, TEXT_MODEL, Engine, configure_environment
from atelier_trellis_worker.errors import (
    ExportTimeout,
    InputRejected,
    TransientFailure,
    classify,
)
from atelier_trellis_worker.presets import preset_for
from atelier_trellis_worker.worker import Worker, WorkerConfig, decode_picture, parse_input


def claimed(model: str = IMAGE_MODEL, **input_data: Any) -> ClaimedTask:
    data = {"image": "upl_1", "quality": "fast", "output_formats": ["glb", "obj"], "seed": 5}
    if model == TEXT_MODEL:
        data = {"prompt": "a teapot", "quality": "fast", "output_formats": ["glb"], "seed": 5}
    data.update(input_data)
    return ClaimedTask.from_json(
        {
            "task_id": "t1",
            "lease": "l1",
            "lease_secs": 30,
            "model": model,
            "input": data,
            "attempt": 1,
            "input_files": [{"position": 0, "reference": "upl_1", "url": "/x"}] if model == IMAGE_MODEL else [],
        }
    )


class FailureClassTests(unittest.TestCase):
    def test_each_failure_gets_its_class(self) -> None:
        class OutOfMemoryError(RuntimeError):
            """Named as torch.cuda's."""

        oom = classify(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
        self.assertEqual((oom.error_class, oom.retry_after_secs), ("provider_error", 30))
        self.assertEqual(classify(OutOfMemoryError("allocation failed")).error_class, "provider_error")
        self.assertEqual(classify(MemoryError()).error_class, "provider_error")
        self.assertEqual(classify(InputRejected("not a picture")).error_class, "provider_rejected")
        self.assertEqual(classify(ExportTimeout("too slow")).error_class, "timeout")
        self.assertEqual(classify(TransientFailure("source down")).error_class, "provider_error")
        broken = classify(ValueError("bad\n  tensor shape"))
        self.assertEqual((broken.error_class, broken.message), ("generation_failed", "ValueError: bad tensor shape"))
        self.assertEqual(len(classify(RuntimeError("x" * 5000)).message), 2000)


class InputTests(unittest.TestCase):
    def test_defaults_and_checks(self) -> None:
        params = parse_input(dataclasses.replace(claimed(), input={}))
        self.assertEqual((params.quality, params.formats, params.seed), ("balanced", ("glb", "obj"), 0))
        self.assertEqual(parse_input(claimed(output_formats=["obj", "obj", "glb"])).formats, ("obj", "glb"))
        self.assertEqual(parse_input(claimed(TEXT_MODEL, prompt="  a teapot ")).prompt, "a teapot")
        for bad in [
            {"seed": -1},
            {"seed": 2**31},
            {"seed": True},
            {"seed": "7"},
            {"output_formats": ["fbx"]},
            {"output_formats": []},
            {"quality": 3},
            {"prompt": "  "},
        ]:
            with self.subTest(bad=bad), self.assertRaises(InputRejected):
                parse_input(claimed(**bad))

    def test_pictures_keep_their_transparency_and_garbage_is_refused(self) -> None:
        from PIL import Image

        self.assertEqual(decode_picture(support.picture_png()).mode, "RGB")
        self.assertEqual(decode_picture(support.picture_png(alpha=True)).mode, "RGBA")
        palette = io.BytesIO()
        Image.new("P", (4, 4)).save(palette, format="PNG", transparency=0)
        self.assertEqual(decode_picture(palette.getvalue()).mode, "RGBA")
        with self.assertRaises(InputRejected):
            decode_picture(b"not a picture")
        with self.assertRaises(InputRejected):
            decode_picture(support.picture_png()[:60])


class RecordedTestCase(unittest.TestCase):
    """Points the stand-in's record at a temp file."""

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.record = Path(directory.name) / "record.jsonl"
        patcher = mock.patch.dict(
            os.environ, {"STANDIN_TRELLIS_RECORD": str(self.record), "STANDIN_TRELLIS_MODE": "ok"}
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def calls(self, event: str) -> List[Dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [call for call in map(json.loads, lines) if call["event"] == event]


class EngineTests(RecordedTestCase):
    def test_presets_and_seeds_reach_the_pipeline_and_to_glb(self) -> None:
        engine = Engine("cpu", {TEXT_MODEL: "/weights/text"})
        sampled = engine.sample(TEXT_MODEL, preset_for("balanced"), 99, prompt="a teapot")
        engine.sample(TEXT_MODEL, preset_for("fast"), 7, prompt="a cup")
        engine.to_mesh(sampled, preset_for("balanced"))
        self.assertEqual(
            [(c["pipeline"], c["path"]) for c in self.calls("load")], [("TrellisTextTo3DPipeline", "/weights/text")]
        )
        self.assertEqual([c["device"] for c in self.calls("to_device")], ["cpu"])
        first, second = self.calls("run")
        self.assertEqual((first["prompt"], first["seed"]), ("a teapot", 99))
        self.assertEqual(first["sparse_structure_sampler_params"], {"steps": 12, "cfg_strength": 7.5})
        self.assertEqual(second["slat_sampler_params"], {"steps": 8, "cfg_strength": 3.0})
        [to_glb] = self.calls("to_glb")
        self.assertEqual((to_glb["simplify"], to_glb["texture_size"], to_glb["verbose"]), (0.95, 1024, False))

    def test_an_image_model_needs_a_picture_and_unknown_models_are_refused(self) -> None:
        with self.assertRaises(InputRejected):
            Engine("cpu").sample(IMAGE_MODEL, preset_for("fast"), 1)
        with self.assertRaises(InputRejected):
            Engine("cpu").sample("trellis/other", preset_for("fast"), 1, prompt="x")

    def test_the_environment_is_set_for_trellis(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=False):
            configure_environment("xformers", "native")
            self.assertEqual((os.environ["ATTN_BACKEND"], os.environ["SPCONV_ALGO"]), ("xformers", "native"))
            os.environ["ATTN_BACKEND"] = "flash-attn"
            configure_environment(None, None)
            self.assertEqual(os.environ["ATTN_BACKEND"], "flash-attn", "unset options keep the environment's")


class FakeClient:
    """The client's calls, recorded; `complete` answers as told."""

    base_url = "http://fake"

    def __init__(self, complete_errors: Sequence[Exception] = ()) -> None:
        self.calls: List[tuple] = []
        self._complete_errors = list(complete_errors)

    def heartbeat(self, task: ClaimedTask, progress: Optional[int] = None) -> str:
        self.calls.append(("heartbeat", progress))
        return "later"

    def download_input(self, task: ClaimedTask, file: Any) -> bytes:
        self.calls.append(("download", file.position))
        return support.picture_png()

    def complete(self, task: ClaimedTask, parts: Sequence[Part]) -> Dict[str, Any]:
        self.calls.append(("complete", [(part.name, part.filename) for part in parts]))
        if self._complete_errors:
            raise self._complete_errors.pop(0)
        return {}

    def fail(
        self, task: ClaimedTask, error_class: str, message: str, retry_after_secs: Optional[int] = None
    ) -> Dict[str, Any]:
        self.calls.append(("fail", error_class, message))
        return {}

    def release(self, task: ClaimedTask) -> None:
        self.calls.append(("release",))

    def reports(self) -> List[tuple]:
        return [call for call in self.calls if call[0] != "heartbeat"]


class ReportTests(RecordedTestCase):
    def run_task(self, client: FakeClient, task: ClaimedTask, **config: Any) -> None:
        worker = Worker(client, Engine("cpu"), WorkerConfig(models=(IMAGE_MODEL, TEXT_MODEL), **config))  # type: ignore[arg-type]
        with mock.patch.object(worker_module.time, "sleep"):
            worker._process(task)

    def test_a_task_completes_with_its_files_in_order_then_the_preview(self) -> None:
        client = FakeClient()
        self.run_task(client, claimed(output_formats=["obj", "glb"]))
        self.assertEqual(
            client.reports(),
            [("download", 0), ("complete", [("file", "model.zip"), ("file", "model.glb"), ("preview", "preview.png")])],
        )

    def test_without_preview_no_render_is_made(self) -> None:
        client = FakeClient()
        self.run_task(client, claimed(TEXT_MODEL), preview=False)
        self.assertEqual(client.reports(), [("complete", [("file", "model.glb")])])
        self.assertEqual(self.calls("render"), [])

    def test_a_completion_is_sent_again_while_the_server_does_not_answer(self) -> None:
        client = FakeClient([ServerUnreachable("down"), ServerUnreachable("down")])
        self.run_task(client, claimed(TEXT_MODEL))
        self.assertEqual([call[0] for call in client.reports()], ["complete"] * 3)

    def test_results_too_large_for_the_server_fail_the_task(self) -> None:
        client = FakeClient([PayloadTooLarge("POST complete answered 413", status=413)])
        self.run_task(client, claimed(TEXT_MODEL))
        complete, (kind, error_class, message) = client.reports()
        self.assertEqual((complete[0], kind, error_class), ("complete", "fail", "generation_failed"))
        self.assertIn("413", message)

    def test_a_lost_lease_at_completion_reports_nothing_more(self) -> None:
        client = FakeClient([LeaseLost("409", status=409)])
        self.run_task(client, claimed(TEXT_MODEL))
        self.assertEqual([call[0] for call in client.reports()], ["complete"])

    def test_bad_inputs_fail_as_the_inputs_fault(self) -> None:
        client = FakeClient()
        self.run_task(client, claimed(quality="ultra"))
        [(kind, error_class, message)] = client.reports()
        self.assertEqual((kind, error_class), ("fail", "provider_rejected"))
        self.assertIn("ultra", message)

    def test_an_export_past_its_limit_fails_as_a_timeout(self) -> None:
        client = FakeClient()
        with mock.patch.dict(os.environ, {"STANDIN_TRELLIS_MODE": "slow_export", "STANDIN_TRELLIS_DELAY_SECS": "0.5"}):
            self.run_task(client, claimed(TEXT_MODEL), export_timeout_secs=0.1)
        [(kind, error_class, _)] = client.reports()
        self.assertEqual((kind, error_class), ("fail", "timeout"))


if __name__ == "__main__":
    unittest.main()

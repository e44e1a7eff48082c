"""The pull-protocol client: the multipart encoding of results, the requests it sends,
and how it maps the server's answers to exceptions (against a stub HTTP server)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

import support  # noqa: F401 - first: the package on sys.path
from atelier_trellis_worker.client import (
    AtelierClient,
    ClaimedTask,
    Forbidden,
    LeaseLost,
    Part,
    PayloadTooLarge,
    RequestRejected,
    ServerBusy,
    ServerUnreachable,
    Unauthorized,
    encode_multipart,
    parse_retry_after,
)

TASK_JSON = {
    "task_id": "01a2",
    "lease": "lease-1",
    "lease_expires_at": "2030-01-01T00:00:00Z",
    "lease_secs": 30,
    "model": "trellis/trellis-image-large",
    "input": {"image": "upl_1", "quality": "fast", "output_formats": ["glb"], "seed": 3},
    "attempt": 2,
    "input_files": [{"position": 0, "reference": "upl_1", "url": "/api/v1/worker/tasks/01a2/inputs/0"}],
}


def parse_form(body: bytes, content_type: str) -> List[Tuple[str, str, str, bytes]]:
    """A multipart form's parts, parsed by the standard library's MIME parser: (name, file name, type, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("ascii") + body
    )
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


class MultipartTests(unittest.TestCase):
    def test_parts_keep_their_order_names_types_and_exact_bytes(self) -> None:
        binary = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
        parts = [
            Part("file", "model.glb", "model/gltf-binary", binary),
            Part("file", "model.zip", "application/zip", b"PK\x03\x04zip"),
            Part("preview", "preview.png", "image/png", b"\x89PNG\r\n"),
        ]
        body, content_type = encode_multipart(parts)
        self.assertTrue(content_type.startswith("multipart/form-data; boundary=atelier-"))
        self.assertEqual(
            parse_form(body, content_type),
            [
                ("file", "model.glb", "model/gltf-binary", binary),
                ("file", "model.zip", "application/zip", b"PK\x03\x04zip"),
                ("preview", "preview.png", "image/png", b"\x89PNG\r\n"),
            ],
        )

    def test_the_layout_is_exactly_rfc_7578s(self) -> None:
        body, content_type = encode_multipart([Part("file", "a.glb", "model/gltf-binary", b"DATA")], boundary="XYZ")
        self.assertEqual(content_type, "multipart/form-data; boundary=XYZ")
        self.assertEqual(
            body,
            b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.glb"\r\n'
            b"Content-Type: model/gltf-binary\r\n\r\nDATA\r\n--XYZ--\r\n",
        )

    def test_names_with_quotes_or_newlines_are_refused(self) -> None:
        with self.assertRaises(ValueError):
            encode_multipart([Part("file", 'a".glb', "model/gltf-binary", b"x")])


class RetryAfterTests(unittest.TestCase):
    def test_seconds_and_http_dates(self) -> None:
        self.assertEqual(parse_retry_after("7"), 7.0)
        self.assertEqual(parse_retry_after("Thu, 01 Jan 2030 00:00:10 GMT", now=1893456000.0), 10.0)
        self.assertIsNone(parse_retry_after(None))
        self.assertIsNone(parse_retry_after("soon"))


class StubHandler(BaseHTTPRequestHandler):
    """Answers as `server.routes` says, and records each request."""

    server: StubServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status, headers, payload = self.server.routes.get(
            (self.command, self.path), (404, {}, b'{"error":"not_found"}')
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


class StubServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.routes: Dict[Tuple[str, str], Tuple[int, Dict[str, str], bytes]] = {}
        self.requests: List[Dict[str, Any]] = []


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message, "details": {"why": "test"}}).encode()


class ClientTests(unittest.TestCase):
    def setUp(self) -> None:
        self.stub = StubServer()
        thread = threading.Thread(target=self.stub.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(self.stub.server_close)
        self.addCleanup(self.stub.shutdown)
        self.client = AtelierClient(f"http://127.0.0.1:{self.stub.server_address[1]}/", "atw_key_1")
        self.task = ClaimedTask.from_json(TASK_JSON)

    def route(self, method: str, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        self.stub.routes[(method, path)] = (status, headers, body)

    def test_a_claim_sends_its_request_and_reads_the_tasks(self) -> None:
        self.route("POST", "/api/v1/worker/claim", 200, json.dumps({"tasks": [TASK_JSON]}).encode())
        [task] = self.client.claim(["trellis/trellis-image-large"], wait_secs=0, instance="gpu-1-42")
        self.assertEqual((task.task_id, task.lease, task.attempt, task.input["seed"]), ("01a2", "lease-1", 2, 3))
        self.assertEqual(task.input_files[0].url, "/api/v1/worker/tasks/01a2/inputs/0")
        [request] = self.stub.requests
        self.assertEqual(request["headers"]["Authorization"], "Bearer atw_key_1")
        self.assertEqual(
            json.loads(request["body"]),
            {"models": ["trellis/trellis-image-large"], "limit": 1, "wait_secs": 0, "instance": "gpu-1-42"},
        )

    def test_task_calls_carry_the_lease(self) -> None:
        self.route("POST", "/api/v1/worker/tasks/01a2/heartbeat", 200, b'{"lease_expires_at":"later"}')
        self.route("GET", "/api/v1/worker/tasks/01a2/inputs/0", 200, b"\x89PNG bytes")
        self.route("POST", "/api/v1/worker/tasks/01a2/complete", 200, b'{"status":"completed"}')
        self.route("POST", "/api/v1/worker/tasks/01a2/fail", 200, b'{"status":"failed"}')
        self.route("POST", "/api/v1/worker/tasks/01a2/release", 200, b'{"released":true}')
        self.assertEqual(self.client.heartbeat(self.task, 150), "later")
        self.assertEqual(self.client.download_input(self.task, self.task.input_files[0]), b"\x89PNG bytes")
        self.assertEqual(
            self.client.complete(self.task, [Part("file", "model.glb", "model/gltf-binary", b"glb")]),
            {"status": "completed"},
        )
        self.client.fail(self.task, "provider_error", "CUDA out of memory", retry_after_secs=30)
        self.client.release(self.task)
        heartbeat, download, complete, fail, release = self.stub.requests
        for request in self.stub.requests:
            self.assertEqual(request["headers"]["X-Atelier-Lease"], "lease-1", request["path"])
        self.assertEqual(json.loads(heartbeat["body"]), {"progress": 100}, "progress is capped at 100")
        form = parse_form(complete["body"], complete["headers"]["Content-Type"])
        self.assertEqual(form, [("file", "model.glb", "model/gltf-binary", b"glb")])
        self.assertEqual(
            json.loads(fail["body"]),
            {"error": "provider_error", "message": "CUDA out of memory", "retry_after_secs": 30},
        )
        self.assertEqual((release["body"], release["headers"].get("Content-Length")), (b"", "0"))

    def test_answers_map_to_typed_exceptions(self) -> None:
        cases = [
            (401, Unauthorized, {}),
            (403, Forbidden, {}),
            (409, LeaseLost, {}),
            (404, LeaseLost, {}),
            (413, PayloadTooLarge, {}),
            (422, RequestRejected, {}),
            (429, ServerBusy, {"Retry-After": "7"}),
            (503, ServerBusy, {"Retry-After": "2"}),
            (500, ServerBusy, {}),
        ]
        for status, kind, headers in cases:
            with self.subTest(status=status):
                self.route(
                    "POST", "/api/v1/worker/tasks/01a2/heartbeat", status, error_body("some_code", "why"), **headers
                )
                with self.assertRaises(kind) as caught:
                    self.client.heartbeat(self.task, 5)
                error = caught.exception
                self.assertEqual(
                    (error.status, error.code, dict(error.details)), (status, "some_code", {"why": "test"})
                )
                self.assertIn("why", str(error))
                if headers:
                    self.assertEqual(error.retry_after, float(headers["Retry-After"]))

    def test_a_404_on_a_claim_is_not_a_lost_lease(self) -> None:
        with self.assertRaises(RequestRejected):
            self.client.claim([], wait_secs=0)

    def test_no_answer_is_server_unreachable(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.assertRaises(ServerUnreachable):
            AtelierClient(f"http://127.0.0.1:{port}", "atw_x").claim([], wait_secs=0)


if __name__ == "__main__":
    unittest.main()

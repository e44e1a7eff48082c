"""The parts with no server: the event decoder, `Retry-After`, the retry policy
(against a local stand-in that answers 503 first), error answers."""

from __future__ import annotations

import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from atelier_client import AsyncClient, AtelierError, Client, RetryPolicy
from atelier_client._http import SseDecoder, parse_retry_after


class SseDecoderTest(unittest.TestCase):
    def test_joins_data_lines_and_skips_comments(self) -> None:
        lines = [": keep-alive", "event: update", "id: 7", "data: {\"a\":", "data: 1}", "", "", "data: x", ""]
        events = SseDecoder().feed_all(lines)
        self.assertEqual([(e.event, e.data, e.id) for e in events],
                         [("update", "{\"a\":\n1}", "7"), ("message", "x", "7")])

    def test_an_event_without_a_blank_line_is_not_emitted(self) -> None:
        self.assertEqual(SseDecoder().feed_all(["event: snapshot", "data: {}"]), [])


class RetryAfterTest(unittest.TestCase):
    def test_reads_seconds_and_dates(self) -> None:
        self.assertEqual(parse_retry_after("5"), 5.0)
        self.assertAlmostEqual(parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) or 0, 60.0)
        self.assertIsNone(parse_retry_after("soon"))
        self.assertIsNone(parse_retry_after(None))

    def test_policy_honours_the_wait_or_gives_up(self) -> None:
        policy = RetryPolicy(max_retries=2, max_delay=10, base_delay=0.5)
        busy = AtelierError("rate_limit_exceeded", "busy", status=429, retry_after=3)
        self.assertEqual(policy.delay(0, busy), 3)
        self.assertIsNone(policy.delay(2, busy), "no third retry")
        too_long = AtelierError("quota_exceeded", "tomorrow", status=429, retry_after=3600)
        self.assertIsNone(policy.delay(0, too_long), "a wait past max_delay is not waited out")
        plain = AtelierError("unavailable", "down", status=503)
        self.assertEqual([policy.delay(n, plain) for n in range(2)], [0.5, 1.0])
        self.assertIsNone(policy.delay(0, AtelierError("not_found", "no", status=404)))


class StandIn(BaseHTTPRequestHandler):
    """Answers 503 with `Retry-After: 1` to the first `busy` requests, then 200."""

    busy = 0
    seen: list[float] = []

    def do_GET(self) -> None:
        StandIn.seen.append(time.monotonic())
        if StandIn.busy > 0:
            StandIn.busy -= 1
            body = json.dumps({"error": "storage_unavailable", "message": "try later", "details": {"part": "db"}})
            self.send_response(503)
            self.send_header("Retry-After", "1")
        else:
            body = json.dumps({"status": "ok", "database": "ok", "storage": "ok", "version": "test"})
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: object) -> None:
        pass


class RetryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
        cls.url = f"http://127.0.0.1:{cls.httpd.server_address[1]}"
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.httpd.shutdown()
        cls.httpd.server_close()

    def setUp(self) -> None:
        StandIn.seen = []

    def test_retries_after_the_time_asked(self) -> None:
        StandIn.busy = 1
        with Client(self.url, "k", retry=RetryPolicy(max_retries=2, max_delay=5)) as client:
            self.assertEqual(client.health().version, "test")
        self.assertEqual(len(StandIn.seen), 2)
        self.assertGreaterEqual(StandIn.seen[1] - StandIn.seen[0], 0.95, "Retry-After: 1 was waited out")

    def test_gives_up_with_the_error_after_max_retries(self) -> None:
        StandIn.busy = 5
        with Client(self.url, "k", retry=RetryPolicy(max_retries=1, max_delay=5)) as client:
            with self.assertRaises(AtelierError) as caught:
                client.health()
        error = caught.exception
        self.assertEqual((error.status, error.code, error.retry_after), (503, "storage_unavailable", 1.0))
        self.assertEqual(error.details, {"part": "db"})
        self.assertEqual(len(StandIn.seen), 2)

    def test_async_retries_too(self) -> None:
        import asyncio

        StandIn.busy = 1

        async def run() -> str:
            async with AsyncClient(self.url, "k", retry=RetryPolicy(max_retries=1, max_delay=5)) as client:
                return (await client.health()).version

        self.assertEqual(asyncio.run(run()), "test")
        self.assertEqual(len(StandIn.seen), 2)


if __name__ == "__main__":
    unittest.main()

"""The server under test, as scripts/client-tests started it (its address and keys
in the environment), and helpers the tests share."""

from __future__ import annotations

import json
import os
import unittest

# A story long enough for a manga run (5,000 characters at least).
STORY = " ".join(
    ["Mika walked to the lighthouse at dawn. The sea was grey and the gulls cried over "
     "the harbour. Her brother Ren waited by the door, holding a lantern."] * 40
)


class Server:
    def __init__(self) -> None:
        missing = [name for name in ("ATELIER_URL", "ATELIER_API_KEY", "ATELIER_MEMBER_KEY", "ATELIER_OPENAPI")
                   if not os.environ.get(name)]
        if missing:
            raise unittest.SkipTest(f"run through scripts/client-tests (no {', '.join(missing)})")
        self.url = os.environ["ATELIER_URL"]
        self.key = os.environ["ATELIER_API_KEY"]
        self.member_key = os.environ["ATELIER_MEMBER_KEY"]
        with open(os.environ["ATELIER_OPENAPI"], encoding="utf-8") as file:
            self.spec = json.load(file)


def server() -> Server:
    return Server()

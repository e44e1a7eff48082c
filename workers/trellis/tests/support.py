"""What every test module shares: the paths, the stand-in TRELLIS first on `sys.path`, a test picture.

Import this module before the worker's package or `trellis`: it puts the stand-in
`trellis` (tests/standin) and the worker's package (workers/trellis) at the front of
`sys.path`, so that no real TRELLIS installed on the machine is picked up.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path
from typing import Tuple

TESTS = Path(__file__).resolve().parent
STANDIN = TESTS / "standin"
PACKAGE_ROOT = TESTS.parent
REPO = PACKAGE_ROOT.parent.parent

for path in (str(PACKAGE_ROOT), str(STANDIN)):
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)

# The worker logs through `logging`; tests keep it quiet unless asked.
logging.basicConfig(level=os.environ.get("ATELIER_TEST_LOG_LEVEL", "CRITICAL").upper())

#: The colour of the test picture (orange): the stand-in's texture carries it through.
PICTURE_COLOUR: Tuple[int, int, int] = (200, 90, 40)


def picture_png(size: int = 48, colour: Tuple[int, int, int] = PICTURE_COLOUR, alpha: bool = False) -> bytes:
    """A PNG: a square of `colour` with a lighter disc in the middle (a little relief)."""
    from PIL import Image, ImageDraw

    mode = "RGBA" if alpha else "RGB"
    fill = colour + ((255,) if alpha else ())
    image = Image.new(mode, (size, size), fill)
    lighter = tuple(min(255, channel + 40) for channel in colour) + ((255,) if alpha else ())
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=lighter)
    if alpha:
        image.putpixel((0, 0), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mean_colour(image: object) -> Tuple[float, float, float]:
    """The mean RGB of a PIL image."""
    from PIL import ImageStat

    red, green, blue = ImageStat.Stat(image.convert("RGB")).mean[:3]  # type: ignore[attr-defined]
    return red, green, blue

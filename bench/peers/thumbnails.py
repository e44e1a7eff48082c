"""Thumbnail peers for `atelier-bench --only thumbnails`: Pillow and libvips (pyvips).

    python thumbnails.py PEER IN_DIR OUT_DIR REPS

PEER is `pillow` or `vips`. Every `*.png` in IN_DIR is read into memory first; then,
REPS times over, each one is decoded, fitted in 256x256 with Lanczos and encoded as
WebP at quality 80 (both libraries' usual default), timed per image around the whole
of that (bytes in, WebP bytes out). The last round's WebP files are written to
OUT_DIR under the same stems, for the bench to measure their SSIM. Prints one JSON
object: the peer, its version, and per image the wall time (`ms`) and the process's
CPU time (`cpu_ms`, all its threads), in milliseconds.

One core: the bench runs this under `taskset -c 0`, and libvips' own thread pool is
held to one thread (VIPS_CONCURRENCY=1, set before pyvips loads).
"""

import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

SIDE = 256
QUALITY = 80


def pillow():
    from PIL import Image, features

    def thumbnail(data):
        with Image.open(io.BytesIO(data)) as im:
            # thumbnail() keeps the aspect ratio, never upscales, and reduces by an
            # integer factor first (reducing_gap=2.0, its default) before Lanczos.
            im.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            im.save(out, "WEBP", quality=QUALITY)
            return out.getvalue()

    version = f"Pillow {Image.__version__}, libwebp {features.version('webp')}"
    return thumbnail, version


def vips():
    import pyvips

    pyvips.cache_set_max(0)  # every image decoded afresh, no operation cache

    def thumbnail(data):
        # thumbnail_buffer: shrink-on-load where the format allows, then a
        # Lanczos3 reduce; size="down" never upscales.
        im = pyvips.Image.thumbnail_buffer(data, SIDE, height=SIDE, size="down")
        return im.webpsave_buffer(Q=QUALITY)

    version = f"pyvips {pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    return thumbnail, version


def main():
    peer, in_dir, out_dir, reps = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    thumbnail, version = {"pillow": pillow, "vips": vips}[peer]()
    inputs = [(path.stem, path.read_bytes()) for path in sorted(in_dir.glob("*.png"))]
    out_dir.mkdir(parents=True, exist_ok=True)
    thumbnail(inputs[0][1])  # warm-up: libraries loaded, first allocations made
    times, cpu_times = [], []
    for rep in range(reps):
        for stem, data in inputs:
            cpu_start, start = time.process_time(), time.perf_counter()
            webp = thumbnail(data)
            times.append((time.perf_counter() - start) * 1000.0)
            cpu_times.append((time.process_time() - cpu_start) * 1000.0)
            if rep == reps - 1:
                (out_dir / f"{stem}.webp").write_bytes(webp)
    print(json.dumps({"peer": peer, "version": version, "ms": times, "cpu_ms": cpu_times}))


if __name__ == "__main__":
    main()

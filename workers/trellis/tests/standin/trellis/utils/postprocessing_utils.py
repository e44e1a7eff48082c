"""A stand-in for `trellis.utils.postprocessing_utils.to_glb`: a real textured mesh, cheaply."""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh
from PIL import Image

from .. import _standin

#: Grid points per side of the relief.
GRID = 12


def to_glb(
    app_rep: Any,
    mesh: Any,
    simplify: float = 0.95,
    fill_holes: bool = True,
    fill_holes_max_size: float = 0.04,
    texture_size: int = 1024,
    debug: bool = False,
    verbose: bool = True,
) -> trimesh.Trimesh:
    """A relief of the sampled picture (heights from its brightness), textured with the
    picture at `texture_size` on a `PBRMaterial`, as TRELLIS's `to_glb` returns it."""
    _standin.record(
        "to_glb",
        simplify=simplify,
        fill_holes=fill_holes,
        fill_holes_max_size=fill_holes_max_size,
        texture_size=texture_size,
        verbose=verbose,
    )
    if _standin.mode() == "slow_export":
        _standin.sleep(_standin.delay())
    picture: Image.Image = mesh.picture
    heights = np.asarray(picture.convert("L").resize((GRID, GRID)), dtype=np.float64) / 255.0 * 0.2
    axis = np.linspace(-0.5, 0.5, GRID)
    xs, ys = np.meshgrid(axis, axis)
    vertices = np.column_stack([xs.ravel(), heights.ravel(), -ys.ravel()])
    us, vs = np.meshgrid(np.linspace(0, 1, GRID), np.linspace(1, 0, GRID))
    uvs = np.column_stack([us.ravel(), vs.ravel()])
    faces = []
    for row in range(GRID - 1):
        for column in range(GRID - 1):
            a = row * GRID + column
            b, c, d = a + 1, a + GRID, a + GRID + 1
            faces.extend([[a, c, b], [b, c, d]])
    texture = app_rep.picture.resize((texture_size, texture_size), Image.NEAREST)
    material = trimesh.visual.material.PBRMaterial(
        roughnessFactor=1.0,
        baseColorTexture=texture,
        baseColorFactor=np.array([255, 255, 255, 255], dtype=np.uint8),
    )
    return trimesh.Trimesh(
        vertices, np.array(faces), visual=trimesh.visual.TextureVisuals(uv=uvs, material=material), process=False
    )

"""A stand-in for the two `trellis.utils.render_utils` calls the worker's preview makes."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import _standin


def yaw_pitch_r_fov_to_extrinsics_intrinsics(yaws: Any, pitchs: Any, rs: Any, fovs: Any) -> Tuple[Any, Any]:
    """Cameras (identity matrices here), one per yaw; lists in, lists out, as in TRELLIS."""
    count = len(yaws) if isinstance(yaws, list) else 1
    extrinsics = [np.eye(4) for _ in range(count)]
    intrinsics = [np.eye(3) for _ in range(count)]
    if not isinstance(yaws, list):
        return extrinsics[0], intrinsics[0]
    return extrinsics, intrinsics


def render_frames(
    sample: Any,
    extrinsics: List[Any],
    intrinsics: List[Any],
    options: Optional[Dict[str, Any]] = None,
    colors_overwrite: Any = None,
    verbose: bool = True,
    **kwargs: Any,
) -> Dict[str, List[Any]]:
    """One frame per camera: the sample's picture at the asked resolution."""
    options = options or {}
    resolution = int(options.get("resolution", 512))
    _standin.record("render", views=len(extrinsics), resolution=resolution, bg_color=list(options.get("bg_color", ())))
    frame = np.asarray(sample.picture.convert("RGB").resize((resolution, resolution)), dtype=np.uint8)
    return {"color": [frame for _ in extrinsics], "depth": [None for _ in extrinsics]}

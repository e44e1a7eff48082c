"""A stand-in for Microsoft TRELLIS, for the worker's tests only.

TRELLIS needs an NVIDIA GPU and gigabytes of weights, which the machines these tests
run on do not have. This package has the same import paths and call signatures as
the parts of TRELLIS the worker uses (microsoft/TRELLIS @ 6b0d6475):

- `trellis.pipelines.TrellisImageTo3DPipeline` / `TrellisTextTo3DPipeline`:
  `from_pretrained`, `cuda` / `cpu` / `to`, `run`;
- `trellis.utils.postprocessing_utils.to_glb`, returning a real textured
  `trimesh.Trimesh` (a relief coloured by the input picture, its texture on a
  `PBRMaterial` as TRELLIS makes it), so that the GLB and OBJ written are real files;
- `trellis.utils.render_utils.yaw_pitch_r_fov_to_extrinsics_intrinsics` / `render_frames`.

Its behaviour is chosen by environment variables (read at each call):

- `STANDIN_TRELLIS_MODE`: `ok` (default); `fail` (`run` raises, as a broken model
  would); `oom` (`run` raises CUDA's out-of-memory error); `slow` (`run` takes
  `STANDIN_TRELLIS_DELAY_SECS`, default 20); `slow_export` (`to_glb` takes that long).
- `STANDIN_TRELLIS_RECORD`: a file to which every call is appended as one JSON line
  (`{"event": "run", ...}`), for the tests to check what the worker asked for.
"""

from . import _standin

_standin.record(
    "import",
    attn_backend=_standin.os.environ.get("ATTN_BACKEND"),
    spconv_algo=_standin.os.environ.get("SPCONV_ALGO"),
)

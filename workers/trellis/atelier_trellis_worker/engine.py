"""TRELLIS itself: its pipelines, each loaded once (on its first task), and the calls into them.

Everything that touches the `trellis` package is here, so that the rest of the
worker (and its tests, which put a stand-in `trellis` first on the path) never
imports torch. TRELLIS reads `ATTN_BACKEND` and `SPCONV_ALGO` when it is imported:
`configure_environment` sets them before the first import.
"""

from __future__ import annotations

import io
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from .errors import InputRejected
from .presets import Preset

log = logging.getLogger(__name__)

IMAGE_MODEL = "trellis/trellis-image-large"
TEXT_MODEL = "trellis/trellis-text-xlarge"


@dataclass(frozen=True)
class ModelInfo:
    """One Atelier model and the TRELLIS pipeline that runs it."""

    #: `image` (a picture in) or `text` (a prompt in).
    kind: str
    #: The class in `trellis.pipelines`.
    pipeline_class: str
    #: What `from_pretrained` loads by default: a Hugging Face repo id (or a local directory).
    weights: str


MODELS: Mapping[str, ModelInfo] = {
    IMAGE_MODEL: ModelInfo("image", "TrellisImageTo3DPipeline", "microsoft/TRELLIS-image-large"),
    TEXT_MODEL: ModelInfo("text", "TrellisTextTo3DPipeline", "microsoft/TRELLIS-text-xlarge"),
}

#: What `pipeline.run` decodes: the Gaussians (texture baking) and the mesh (geometry).
#: The radiance field is not needed for a GLB and is skipped.
DECODE_FORMATS = ("gaussian", "mesh")

#: The preview's camera: yaw and pitch (radians), distance and field of view (degrees)
#: in TRELLIS's own camera convention, and its side in pixels.
PREVIEW_YAW = math.pi / 4
PREVIEW_PITCH = 0.35
PREVIEW_RADIUS = 2.0
PREVIEW_FOV = 40.0
PREVIEW_RESOLUTION = 512


def configure_environment(attn_backend: Optional[str] = None, spconv_algo: Optional[str] = None) -> None:
    """Sets `ATTN_BACKEND` (`flash-attn` or `xformers`) and `SPCONV_ALGO` (`auto` or `native`)
    for TRELLIS, which reads them once, when it is first imported. Unset values keep
    what the environment already says (TRELLIS's defaults: flash-attn, auto)."""
    if "trellis" in sys.modules:
        log.warning("trellis is already imported: ATTN_BACKEND and SPCONV_ALGO may not take effect")
    if attn_backend:
        os.environ["ATTN_BACKEND"] = attn_backend
    if spconv_algo:
        os.environ["SPCONV_ALGO"] = spconv_algo


@dataclass
class Sampled:
    """What TRELLIS sampled for one task: the first sample's Gaussians and mesh."""

    gaussian: Any
    mesh: Any


class Engine:
    """TRELLIS's pipelines on one device, each loaded on first use and kept."""

    def __init__(self, device: str = "cuda", weights: Optional[Mapping[str, str]] = None) -> None:
        """`device`: `cuda`, `cuda:N` or `cpu`; `weights`: per model, a repo id or directory to load instead."""
        self.device = device
        self._weights: Dict[str, str] = {model: info.weights for model, info in MODELS.items()}
        self._weights.update({model: path for model, path in (weights or {}).items() if path})
        self._pipelines: Dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def supports(model: str) -> bool:
        """Whether this engine runs `model` (`service/model`)."""
        return model in MODELS

    def pipeline(self, model: str) -> Any:
        """The pipeline of `model`, loaded and moved to the device on first use."""
        with self._lock:
            pipeline = self._pipelines.get(model)
            if pipeline is None:
                pipeline = self._load(model)
                self._pipelines[model] = pipeline
            return pipeline

    def _load(self, model: str) -> Any:
        info = MODELS.get(model)
        if info is None:
            raise InputRejected(f"this worker does not run {model!r} (it runs {', '.join(MODELS)})")
        from trellis import pipelines  # noqa: PLC0415 - imported once configure_environment ran

        weights = self._weights[model]
        log.info("loading %s from %s onto %s", info.pipeline_class, weights, self.device)
        pipeline = getattr(pipelines, info.pipeline_class).from_pretrained(weights)
        if self.device == "cuda":
            pipeline.cuda()
        elif self.device == "cpu":
            pipeline.cpu()
        else:
            import torch  # noqa: PLC0415 - only for a device other than the defaults

            pipeline.to(torch.device(self.device))
        log.info("%s is ready", info.pipeline_class)
        return pipeline

    def sample(
        self, model: str, preset: Preset, seed: int, *, image: Any = None, prompt: Optional[str] = None
    ) -> Sampled:
        """Runs the model's pipeline on a picture (a PIL image) or a prompt, with the preset's samplers."""
        info = MODELS.get(model)
        if info is None:
            raise InputRejected(f"this worker does not run {model!r}")
        pipeline = self.pipeline(model)
        options: Dict[str, Any] = {
            "num_samples": 1,
            "seed": seed,
            "sparse_structure_sampler_params": preset.sparse_structure_sampler_params(),
            "slat_sampler_params": preset.slat_sampler_params(),
            "formats": list(DECODE_FORMATS),
        }
        if info.kind == "image":
            if image is None:
                raise InputRejected(f"{model} needs a picture")
            outputs = pipeline.run(image, preprocess_image=True, **options)
        else:
            if not prompt:
                raise InputRejected(f"{model} needs a prompt")
            outputs = pipeline.run(prompt, **options)
        return Sampled(gaussian=outputs["gaussian"][0], mesh=outputs["mesh"][0])

    @staticmethod
    def to_mesh(sampled: Sampled, preset: Preset) -> Any:
        """The textured mesh (a `trimesh.Trimesh`): simplified, holes filled, texture baked."""
        from trellis.utils import postprocessing_utils  # noqa: PLC0415

        return postprocessing_utils.to_glb(
            sampled.gaussian,
            sampled.mesh,
            simplify=preset.simplify,
            texture_size=preset.texture_size,
            fill_holes=True,
            verbose=False,
        )

    @staticmethod
    def preview(sampled: Sampled) -> bytes:
        """A PNG still of the Gaussians from one camera, on white (one render: cheap)."""
        from PIL import Image  # noqa: PLC0415
        from trellis.utils import render_utils  # noqa: PLC0415

        extrinsics, intrinsics = render_utils.yaw_pitch_r_fov_to_extrinsics_intrinsics(
            [PREVIEW_YAW], [PREVIEW_PITCH], PREVIEW_RADIUS, PREVIEW_FOV
        )
        frames = render_utils.render_frames(
            sampled.gaussian,
            extrinsics,
            intrinsics,
            {"resolution": PREVIEW_RESOLUTION, "bg_color": (1, 1, 1)},
            verbose=False,
        )
        buffer = io.BytesIO()
        Image.fromarray(frames["color"][0]).save(buffer, format="PNG")
        return buffer.getvalue()

    @staticmethod
    def free_memory() -> None:
        """Gives cached GPU memory back after a failure (out of memory above all)."""
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

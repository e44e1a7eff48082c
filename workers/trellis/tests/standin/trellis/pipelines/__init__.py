"""Stand-ins for `trellis.pipelines.TrellisImageTo3DPipeline` and `TrellisTextTo3DPipeline`."""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional

from PIL import Image

from .. import _standin

#: The side of the picture a stand-in sample keeps (what colours its relief).
SAMPLE_SIDE = 32


class StandinGaussian:
    """What `run` returns as `outputs["gaussian"][0]`: here, the colours of the asset."""

    def __init__(self, picture: Image.Image, seed: int) -> None:
        self.picture = picture
        self.seed = seed


class StandinMesh:
    """What `run` returns as `outputs["mesh"][0]`: here, a height field from the picture."""

    def __init__(self, picture: Image.Image) -> None:
        self.picture = picture


class _Pipeline:
    """The parts of TRELLIS's `Pipeline` the worker uses."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.device = "cpu"

    @classmethod
    def from_pretrained(cls, path: str) -> _Pipeline:
        _standin.record("load", pipeline=cls.__name__, path=path)
        return cls(path)

    def to(self, device: Any) -> None:
        self.device = str(device)
        _standin.record("to_device", pipeline=type(self).__name__, device=self.device)

    def cuda(self) -> None:
        self.to("cuda")

    def cpu(self) -> None:
        self.to("cpu")

    def _record_run(
        self,
        num_samples: int,
        seed: int,
        sparse_structure_sampler_params: Optional[dict],
        slat_sampler_params: Optional[dict],
        formats: Optional[List[str]],
        **what: Any,
    ) -> List[str]:
        """Records a `run` call (what every pipeline's `run` takes, and `what` its
        own input was); returns the formats asked for."""
        formats = list(formats or ["mesh", "gaussian", "radiance_field"])
        _standin.record(
            "run",
            pipeline=type(self).__name__,
            device=self.device,
            num_samples=num_samples,
            seed=seed,
            sparse_structure_sampler_params=sparse_structure_sampler_params or {},
            slat_sampler_params=slat_sampler_params or {},
            formats=formats,
            **what,
        )
        return formats

    def _sample(self, picture: Image.Image, seed: int, formats: List[str]) -> Dict[str, List[Any]]:
        """Behaves as the mode says, then returns TRELLIS's output shape."""
        mode = _standin.mode()
        if mode == "fail":
            raise RuntimeError("stand-in TRELLIS failed: the sparse structure sampler produced no voxels")
        if mode == "oom":
            raise RuntimeError(_standin.OUT_OF_MEMORY)
        if mode == "slow":
            _standin.sleep(_standin.delay())
        picture = picture.convert("RGB").resize((SAMPLE_SIDE, SAMPLE_SIDE))
        outputs: Dict[str, List[Any]] = {}
        if "gaussian" in formats:
            outputs["gaussian"] = [StandinGaussian(picture, seed)]
        if "mesh" in formats:
            outputs["mesh"] = [StandinMesh(picture)]
        if "radiance_field" in formats:
            outputs["radiance_field"] = [None]
        return outputs


class TrellisImageTo3DPipeline(_Pipeline):
    """`pipe.run(image, num_samples, seed, sparse_structure_sampler_params, slat_sampler_params, formats,
    preprocess_image)`."""

    def run(
        self,
        image: Image.Image,
        num_samples: int = 1,
        seed: int = 42,
        sparse_structure_sampler_params: Optional[dict] = None,
        slat_sampler_params: Optional[dict] = None,
        formats: Optional[List[str]] = None,
        preprocess_image: bool = True,
    ) -> Dict[str, List[Any]]:
        formats = self._record_run(
            num_samples,
            seed,
            sparse_structure_sampler_params,
            slat_sampler_params,
            formats,
            preprocess_image=preprocess_image,
            image_size=list(image.size),
            image_mode=image.mode,
            image_colour=list(image.convert("RGB").resize((1, 1)).getpixel((0, 0))),
        )
        return self._sample(image, seed, formats)


class TrellisTextTo3DPipeline(_Pipeline):
    """`pipe.run(prompt, num_samples, seed, sparse_structure_sampler_params, slat_sampler_params, formats)`."""

    def run(
        self,
        prompt: str,
        num_samples: int = 1,
        seed: int = 42,
        sparse_structure_sampler_params: Optional[dict] = None,
        slat_sampler_params: Optional[dict] = None,
        formats: Optional[List[str]] = None,
    ) -> Dict[str, List[Any]]:
        formats = self._record_run(
            num_samples, seed, sparse_structure_sampler_params, slat_sampler_params, formats, prompt=prompt
        )
        # A colour of the prompt's own, so that each prompt looks different.
        digest = hashlib.sha256(prompt.encode("utf-8")).digest()
        return self._sample(Image.new("RGB", (SAMPLE_SIDE, SAMPLE_SIDE), tuple(digest[:3])), seed, formats)

"""Quality presets: what Atelier's `quality` (`fast`, `balanced`, `high`) means to TRELLIS.

These numbers are this worker's choice, not TRELLIS's: `balanced` is TRELLIS's own
defaults (12 sampler steps per stage, classifier-free guidance 7.5 for the sparse
structure and 3.0 for the structured latent, 95 % of faces simplified away, a
1024-pixel texture); `fast` and `high` move every knob within the ranges TRELLIS's
demo exposes (simplify 0.9 to 0.98, texture 512 to 2048).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping

from .errors import InputRejected

#: TRELLIS's guidance strengths, the same in every preset.
SPARSE_STRUCTURE_CFG = 7.5
SLAT_CFG = 3.0


@dataclass(frozen=True)
class Preset:
    """The sampler and export settings of one quality."""

    name: str
    #: Steps of the sparse-structure flow sampler (stage 1).
    sparse_structure_steps: int
    #: Steps of the structured-latent flow sampler (stage 2).
    slat_steps: int
    #: The share of mesh faces removed by `to_glb` (higher: lighter mesh).
    simplify: float
    #: The side of the baked texture, in pixels.
    texture_size: int
    sparse_structure_cfg: float = SPARSE_STRUCTURE_CFG
    slat_cfg: float = SLAT_CFG

    def sparse_structure_sampler_params(self) -> Dict[str, float]:
        """`sparse_structure_sampler_params` for `pipeline.run`."""
        return {"steps": self.sparse_structure_steps, "cfg_strength": self.sparse_structure_cfg}

    def slat_sampler_params(self) -> Dict[str, float]:
        """`slat_sampler_params` for `pipeline.run`."""
        return {"steps": self.slat_steps, "cfg_strength": self.slat_cfg}


PRESETS: Mapping[str, Preset] = {
    "fast": Preset("fast", sparse_structure_steps=8, slat_steps=8, simplify=0.97, texture_size=512),
    "balanced": Preset("balanced", sparse_structure_steps=12, slat_steps=12, simplify=0.95, texture_size=1024),
    "high": Preset("high", sparse_structure_steps=25, slat_steps=25, simplify=0.90, texture_size=2048),
}

#: What a task that names no quality gets (the server fills it in anyway).
DEFAULT_QUALITY = "balanced"


def preset_for(quality: str) -> Preset:
    """The preset of `quality`; `InputRejected` for a quality this worker does not know."""
    try:
        return PRESETS[quality]
    except KeyError:
        known = ", ".join(PRESETS)
        raise InputRejected(f"unknown quality {quality!r} (known: {known})") from None

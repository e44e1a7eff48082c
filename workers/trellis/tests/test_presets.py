"""The quality presets: Atelier's `quality` to TRELLIS's sampler steps, simplification and texture size."""

from __future__ import annotations

import unittest

import support  # noqa: F401 - first: the package on sys.path
from atelier_trellis_worker.errors import InputRejected
from atelier_trellis_worker.presets import DEFAULT_QUALITY, PRESETS, preset_for


class PresetTests(unittest.TestCase):
    def test_each_quality_maps_to_its_steps_simplification_and_texture(self) -> None:
        table = {
            name: (p.sparse_structure_steps, p.slat_steps, p.simplify, p.texture_size) for name, p in PRESETS.items()
        }
        self.assertEqual(
            table,
            {"fast": (8, 8, 0.97, 512), "balanced": (12, 12, 0.95, 1024), "high": (25, 25, 0.90, 2048)},
        )

    def test_sampler_params_are_what_pipeline_run_takes(self) -> None:
        balanced = preset_for("balanced")
        self.assertEqual(balanced.sparse_structure_sampler_params(), {"steps": 12, "cfg_strength": 7.5})
        self.assertEqual(balanced.slat_sampler_params(), {"steps": 12, "cfg_strength": 3.0})
        self.assertEqual(preset_for("high").slat_sampler_params(), {"steps": 25, "cfg_strength": 3.0})

    def test_presets_stay_within_the_ranges_trellis_exposes(self) -> None:
        for preset in PRESETS.values():
            with self.subTest(preset.name):
                self.assertTrue(0.9 <= preset.simplify <= 0.98)
                self.assertTrue(512 <= preset.texture_size <= 2048)
                self.assertGreater(preset.sparse_structure_steps, 0)

    def test_the_default_is_balanced_and_unknown_qualities_are_the_inputs_fault(self) -> None:
        self.assertEqual(DEFAULT_QUALITY, "balanced")
        with self.assertRaises(InputRejected) as caught:
            preset_for("ultra")
        self.assertIn("fast, balanced, high", str(caught.exception))


if __name__ == "__main__":
    unittest.main()

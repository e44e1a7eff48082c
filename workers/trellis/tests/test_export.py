"""The result files: a textured mesh (as TRELLIS's `to_glb` returns it) to a GLB and to an OBJ zip."""

from __future__ import annotations

import io
import tempfile
import unittest
import zipfile
from pathlib import Path

import support
from atelier_trellis_worker import export
from atelier_trellis_worker.engine import IMAGE_MODEL, Engine
from atelier_trellis_worker.presets import preset_for


def textured_mesh(texture_size: int = 64):
    """A mesh made by the stand-in's `to_glb` from the test picture (a PBR-textured relief)."""
    from PIL import Image

    engine = Engine("cpu")
    picture = Image.open(io.BytesIO(support.picture_png()))
    sampled = engine.sample(IMAGE_MODEL, preset_for("fast"), 1, image=picture)
    mesh = engine.to_mesh(sampled, preset_for("fast"))
    mesh.visual.material.baseColorTexture = mesh.visual.material.baseColorTexture.resize((texture_size,) * 2)
    return mesh


class ExportTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.mesh = textured_mesh()

    def test_the_glb_loads_back_with_its_faces_and_texture(self) -> None:
        import trimesh

        data = export.glb_bytes(self.mesh)
        self.assertEqual(data[:4], b"glTF")
        loaded = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh")
        self.assertEqual(len(loaded.faces), len(self.mesh.faces))
        self.assertEqual(loaded.visual.kind, "texture")
        texture = loaded.visual.material.baseColorTexture
        for got, want in zip(support.mean_colour(texture), support.PICTURE_COLOUR):
            self.assertLess(abs(got - want), 30)

    def test_the_obj_zip_holds_the_obj_its_material_and_texture_png(self) -> None:
        import trimesh
        from PIL import Image

        archive = zipfile.ZipFile(io.BytesIO(export.obj_zip_bytes(self.mesh)))
        self.assertEqual(archive.namelist(), ["model.obj", "model.mtl", "texture.png"])
        obj = archive.read("model.obj").decode("utf-8")
        self.assertIn("mtllib model.mtl", obj)
        self.assertIn("\nvt ", obj, "texture coordinates")
        mtl = archive.read("model.mtl").decode("utf-8")
        self.assertIn("map_Kd texture.png", mtl)
        self.assertNotIn("material_0.png", mtl)
        self.assertEqual(Image.open(io.BytesIO(archive.read("texture.png"))).size, (64, 64))
        with tempfile.TemporaryDirectory() as directory:
            archive.extractall(directory)
            loaded = trimesh.load(Path(directory) / "model.obj", force="mesh")
        self.assertEqual(len(loaded.faces), len(self.mesh.faces))
        self.assertEqual(loaded.visual.kind, "texture")
        self.assertIsNotNone(loaded.visual.material.image)

    def test_result_parts_follow_the_formats_order_with_their_names_and_types(self) -> None:
        parts = export.result_parts(self.mesh, ["obj", "glb"])
        self.assertEqual(
            [(part.name, part.filename, part.content_type) for part in parts],
            [("file", "model.zip", "application/zip"), ("file", "model.glb", "model/gltf-binary")],
        )
        self.assertEqual(
            (export.preview_part(b"png").name, export.preview_part(b"png").content_type), ("preview", "image/png")
        )
        with self.assertRaises(ValueError):
            export.result_parts(self.mesh, ["fbx"])

    def test_an_mtl_with_several_textures_gets_numbered_names(self) -> None:
        renames = export._texture_names({"material_0.png": b"a", "material_1.jpeg": b"b"})
        self.assertEqual(renames, {"material_0.png": "texture.png", "material_1.jpeg": "texture_1.jpeg"})
        mtl = export._rename_maps("newmtl a\nmap_Kd material_0.png\nmap_Ks -s 1 1 1 material_1.jpeg\n", renames)
        self.assertEqual(mtl, "newmtl a\nmap_Kd texture.png\nmap_Ks -s 1 1 1 texture_1.jpeg\n")


if __name__ == "__main__":
    unittest.main()
